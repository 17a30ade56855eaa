// The web dashboard's files (issue 10): the single-page app that Vite builds from dashboard/ into
// the build directory, served by tollgate itself under /dashboard/ so that there is no other
// server to run. The page holds no data of its own: it signs in with a root key and calls the
// public API like any client.
//
// The folder is read once, at start-up, into memory (a build is about 100 KB), so a request never
// touches the file system: a path is only ever a key of that map, which leaves nothing to
// traverse. Files under assets/ carry a content hash in their name (Vite's output) and are
// cached for a year; index.html is revalidated on every load (ETag, 304), so a new build is picked
// up by the next page load. Every answer carries a strict Content-Security-Policy (scripts and
// styles from tollgate only, no inline script, no framing): a root key lives in that page.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"
#include "http/router.h"

namespace tollgate {

struct DashboardFile {
  std::string body;
  std::string content_type;
  std::string etag;        // strong, quoted: a digest of the body
  bool immutable = false;  // under assets/: the name changes whenever the content does
};

// Every regular file under a built dashboard folder, by its path relative to the folder
// ("index.html", "assets/index-B1x9.js"). Not changed after Load, so every worker reads it
// without a lock.
class DashboardFiles {
 public:
  // A folder of at most this many files and bytes: anything larger is not a dashboard build
  // (e.g. --dashboard-dir pointing at /), and would only fill memory.
  static constexpr std::size_t kMaxFiles = 1000;
  static constexpr std::size_t kMaxBytes = 32u << 20;

  // Fails when the folder is missing, cannot be read, has no index.html, or is too large.
  static Result<DashboardFiles> Load(const std::filesystem::path& dir);

  // nullptr when there is no such file.
  const DashboardFile* Find(std::string_view path) const;
  std::size_t count() const { return files_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  std::unordered_map<std::string, DashboardFile> files_;
  std::size_t bytes_ = 0;
};

// The Content-Type of a file name, by its extension; application/octet-stream when unknown.
std::string_view DashboardContentType(std::string_view name);

// Loads the built dashboard from `dir`, logs one line saying what /dashboard/ serves, and
// registers GET (and HEAD) /dashboard (a redirect to /dashboard/), /dashboard/ (index.html) and
// /dashboard/<file>, without a root key. When `dir` holds no build, the three answer 404 with a
// detail saying how to build it; the API is not affected either way.
void AddDashboardRoutes(Router& router, const std::string& dir);

}  // namespace tollgate
