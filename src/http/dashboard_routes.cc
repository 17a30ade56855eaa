#include "http/dashboard_routes.h"

#include <array>
#include <fstream>
#include <memory>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/text.h"
#include "http/envelope.h"

namespace tollgate {
namespace {

constexpr std::string_view kPrefix = "/dashboard/";
constexpr std::string_view kIndex = "index.html";
// Vite's output folder for the files it names by their content hash.
constexpr std::string_view kAssetsFolder = "assets/";

// Scripts, images and API calls from tollgate only, never an inline script; no plugin, no framing
// of the dashboard by another page, forms post nowhere. Inline styles are allowed for one page:
// the invoice preview, a sandboxed frame (no script runs there) of a blob: URL holding the HTML
// of GET /billing/invoices/<id>.html, whose CSS is inline and which inherits this policy.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-src blob:; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

struct ExtensionType {
  std::string_view extension;
  std::string_view content_type;
};
constexpr std::array<ExtensionType, 13> kContentTypes = {{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
}};

// The headers every dashboard answer carries, files and errors alike.
void SetSecurityHeaders(HttpResponse& response) {
  response.SetHeader("Content-Security-Policy", kContentSecurityPolicy);
  response.SetHeader("X-Content-Type-Options", "nosniff");
  response.SetHeader("Referrer-Policy", "no-referrer");
  response.SetHeader("X-Frame-Options", "DENY");
}

HttpResponse DashboardError(const HttpRequest& request, const Error& error) {
  HttpResponse response = ErrorResponse(request.request_id, error);
  SetSecurityHeaders(response);
  response.SetHeader("Cache-Control", "no-store");
  return response;
}

// If-None-Match (RFC 9110 13.1.2): "*", or a list of entity tags compared weakly (W/ ignored).
bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  for (std::string_view tag : SplitTrimmed(if_none_match, ',')) {
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

HttpResponse FileResponse(const HttpRequest& request, const DashboardFile& file) {
  HttpResponse response;
  response.content_type = file.content_type;
  SetSecurityHeaders(response);
  response.SetHeader("ETag", file.etag);
  response.SetHeader("Cache-Control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  if (!request.if_none_match.empty() && EtagMatches(request.if_none_match, file.etag)) {
    response.status = 304;  // the cached copy is current: no body
    return response;
  }
  response.body = file.body;  // a copy per request: files are a few KB to ~100 KB
  return response;
}

// Any path under /dashboard/: the file it names, index.html for the folder itself.
HttpResponse ServeFile(const DashboardFiles& files, const HttpRequest& request) {
  const std::string_view path = std::string_view(request.path).substr(kPrefix.size());
  if (path.find("..") != std::string_view::npos) {
    return DashboardError(request, Error::InvalidInput(
                                       "the path " + request.path + " holds '..'; dashboard paths never do",
                                       {{"path", "holds '..'", "open /dashboard/"}}));
  }
  const DashboardFile* file = files.Find(path.empty() ? kIndex : path);
  if (file == nullptr) {
    return DashboardError(request, Error::NotFound("the dashboard has no file " + request.path +
                                                   "; it is at /dashboard/ (pages are addressed as /dashboard/#/keys)"));
  }
  return FileResponse(request, *file);
}

HttpResponse RedirectToFolder(const HttpRequest&) {
  HttpResponse response;
  response.status = 301;
  response.content_type = "text/plain; charset=utf-8";
  response.body = "the dashboard is at /dashboard/\n";
  response.SetHeader("Location", std::string(kPrefix));
  SetSecurityHeaders(response);
  return response;
}

// What every path under /dashboard/ answers when there are no files: a 404 saying why, and how
// to build them.
Router::PlainHandler NoDashboard(const std::string& reason) {
  const std::string detail = "this server serves no dashboard (" + reason +
                             "); build one with `make build` (npm ci and npm run build in dashboard/) and start "
                             "tollgate with --dashboard-dir <the build's output folder>";
  return [detail](const HttpRequest& request) { return DashboardError(request, Error::NotFound(detail)); };
}

Result<std::string> ReadFile(const std::filesystem::path& path, std::uintmax_t size) {
  std::ifstream in(path, std::ios::binary);
  std::string body(size, '\0');
  if (!in.read(body.data(), static_cast<std::streamsize>(size))) {
    return Fail(Error::Unavailable("cannot read " + path.string()));
  }
  return body;
}

}  // namespace

std::string_view DashboardContentType(std::string_view name) {
  for (const ExtensionType& type : kContentTypes) {
    if (name.ends_with(type.extension)) return type.content_type;
  }
  return "application/octet-stream";
}

Result<DashboardFiles> DashboardFiles::Load(const std::filesystem::path& dir) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(dir / kIndex, error)) {
    return Fail(Error::NotFound(dir.string() + " holds no dashboard build (no " + std::string(kIndex) + ")"));
  }
  DashboardFiles files;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (!it->is_regular_file(error)) continue;
    if (files.files_.size() == kMaxFiles) {
      return Fail(Error::InvalidInput(dir.string() + " holds more than " + std::to_string(kMaxFiles) +
                                      " files: not a dashboard build"));
    }
    const std::uintmax_t size = it->file_size(error);
    if (error) break;
    files.bytes_ += size;
    if (files.bytes_ > kMaxBytes) {
      return Fail(Error::InvalidInput(dir.string() + " holds more than " + std::to_string(kMaxBytes >> 20) +
                                      " MiB: not a dashboard build"));
    }
    auto body = ReadFile(it->path(), size);
    if (!body) return Fail(std::move(body.error()));
    const std::string name = it->path().lexically_relative(dir).generic_string();
    DashboardFile file;
    file.content_type = std::string(DashboardContentType(name));
    file.etag = "\"" + Sha256Hex(*body).substr(0, 20) + "\"";
    file.immutable = name.starts_with(kAssetsFolder);
    file.body = std::move(*body);
    files.files_.emplace(name, std::move(file));
  }
  if (error) return Fail(Error::Unavailable("cannot read " + dir.string() + ": " + error.message()));
  return files;
}

const DashboardFile* DashboardFiles::Find(std::string_view path) const {
  const auto it = files_.find(std::string(path));
  return it == files_.end() ? nullptr : &it->second;
}

void AddDashboardRoutes(Router& router, const std::string& dir) {
  Router::PlainHandler serve;
  if (dir.empty()) {
    spdlog::info("dashboard: off (--dashboard-dir is empty)");
    serve = NoDashboard("--dashboard-dir is empty");
  } else if (auto loaded = DashboardFiles::Load(dir); !loaded) {
    spdlog::warn("dashboard: not served: {}; build it with `make build` (npm run build in dashboard/) or point "
                 "--dashboard-dir at a build",
                 loaded.error().detail);
    serve = NoDashboard(loaded.error().detail);
  } else {
    spdlog::info("dashboard: {} files ({} KiB) from {} at {}", loaded->count(), (loaded->bytes() + 1023) / 1024, dir,
                 kPrefix);
    serve = [files = std::make_shared<const DashboardFiles>(std::move(*loaded))](const HttpRequest& request) {
      return ServeFile(*files, request);
    };
  }
  router.AddPlain("GET", "/dashboard", RedirectToFolder);
  router.AddPlain("GET", std::string(kPrefix), serve);  // the folder itself: a prefix route needs more
  router.AddPublicPrefix("GET", std::string(kPrefix), std::move(serve));
}

}  // namespace tollgate
