// The dashboard's file routes over a real folder in a temp directory: what a browser gets for the
// index, a hashed asset and other files (content type, caching, ETag and 304, security headers),
// and what it gets for a path that is not a file, that climbs out of the folder, or when no
// dashboard was built.
#include "http/dashboard_routes.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "../storage/temp_dir.h"

namespace tollgate {
namespace {

constexpr const char* kIndexHtml = "<!doctype html><title>tollgate</title><script type=module src=assets/index-B1x9.js></script>";
constexpr const char* kScript = "console.log('dashboard')";

void WriteFile(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string Header(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

nlohmann::json Json(const HttpResponse& response) { return nlohmann::json::parse(response.body, nullptr, false); }

HttpRequest Get(std::string path, std::string if_none_match = "") {
  HttpRequest request;
  request.method = "GET";
  request.path = std::move(path);
  request.if_none_match = std::move(if_none_match);
  request.request_id = "req_dash";
  return request;
}

// A build's folder with an index, hashed assets and a file beside them; a secret next to the folder.
class DashboardRoutesTest : public ::testing::Test {
 protected:
  DashboardRoutesTest() : router_([](std::string_view) { return nullptr; }) {
    const auto build = temp_.Path() / "dashboard";
    WriteFile(build / "index.html", kIndexHtml);
    WriteFile(build / "assets" / "index-B1x9.js", kScript);
    WriteFile(build / "assets" / "index-Cc2d.css", "body{margin:0}");
    WriteFile(build / "assets" / "logo-9a8b.svg", "<svg/>");
    WriteFile(build / "robots.txt", "User-agent: *\n");
    WriteFile(build / "data.bin", "\x01\x02");
    WriteFile(temp_.Path() / "secret.txt", "outside the dashboard");
    AddDashboardRoutes(router_, build.string());
  }

  TempDir temp_;
  Router router_;
};

TEST_F(DashboardRoutesTest, TheFolderAnswersWithIndexHtmlAndFilesWithTheirContentType) {
  const HttpResponse index = router_.Handle(Get("/dashboard/"));
  EXPECT_EQ(index.status, 200u);
  EXPECT_EQ(index.body, kIndexHtml);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(router_.Handle(Get("/dashboard/index.html")).body, kIndexHtml);

  const HttpResponse script = router_.Handle(Get("/dashboard/assets/index-B1x9.js"));
  EXPECT_EQ(script.status, 200u);
  EXPECT_EQ(script.body, kScript);
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(router_.Handle(Get("/dashboard/assets/index-Cc2d.css")).content_type, "text/css; charset=utf-8");
  EXPECT_EQ(router_.Handle(Get("/dashboard/assets/logo-9a8b.svg")).content_type, "image/svg+xml");
  EXPECT_EQ(router_.Handle(Get("/dashboard/robots.txt")).content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(router_.Handle(Get("/dashboard/data.bin")).content_type, "application/octet-stream");
}

TEST_F(DashboardRoutesTest, HeadAnswersLikeGetAndOtherMethodsAre405) {
  HttpRequest head = Get("/dashboard/assets/index-B1x9.js");
  head.method = "HEAD";
  const HttpResponse response = router_.Handle(head);
  EXPECT_EQ(response.status, 200u);  // the server drops the body of a HEAD
  EXPECT_EQ(response.content_type, "text/javascript; charset=utf-8");
  EXPECT_FALSE(Header(response, "ETag").empty());

  HttpRequest post = Get("/dashboard/");
  post.method = "POST";
  EXPECT_EQ(router_.Handle(post).status, 405u);
  EXPECT_EQ(Header(router_.Handle(post), "Allow"), "GET");
}

TEST_F(DashboardRoutesTest, HashedAssetsAreImmutableAndTheIndexIsRevalidated) {
  EXPECT_EQ(Header(router_.Handle(Get("/dashboard/assets/index-B1x9.js")), "Cache-Control"),
            "public, max-age=31536000, immutable");
  EXPECT_EQ(Header(router_.Handle(Get("/dashboard/")), "Cache-Control"), "no-cache");
  EXPECT_EQ(Header(router_.Handle(Get("/dashboard/robots.txt")), "Cache-Control"), "no-cache");
}

TEST_F(DashboardRoutesTest, EtagsAreQuotedStablePerContentAndDifferBetweenFiles) {
  const std::string etag = Header(router_.Handle(Get("/dashboard/")), "ETag");
  ASSERT_GE(etag.size(), 10u);
  EXPECT_EQ(etag.front(), '"');
  EXPECT_EQ(etag.back(), '"');
  EXPECT_EQ(Header(router_.Handle(Get("/dashboard/index.html")), "ETag"), etag);
  EXPECT_NE(Header(router_.Handle(Get("/dashboard/assets/index-B1x9.js")), "ETag"), etag);
}

TEST_F(DashboardRoutesTest, AMatchingIfNoneMatchIs304WithoutABody) {
  const std::string etag = Header(router_.Handle(Get("/dashboard/")), "ETag");
  for (const std::string& if_none_match : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
    const HttpResponse response = router_.Handle(Get("/dashboard/", if_none_match));
    EXPECT_EQ(response.status, 304u) << if_none_match;
    EXPECT_TRUE(response.body.empty()) << if_none_match;
    EXPECT_EQ(Header(response, "ETag"), etag);
    EXPECT_EQ(Header(response, "Cache-Control"), "no-cache");
  }
  const HttpResponse changed = router_.Handle(Get("/dashboard/", "\"an-older-build\""));
  EXPECT_EQ(changed.status, 200u);
  EXPECT_EQ(changed.body, kIndexHtml);
}

TEST_F(DashboardRoutesTest, EveryAnswerCarriesTheSecurityHeaders) {
  for (const char* path : {"/dashboard/", "/dashboard/assets/index-B1x9.js", "/dashboard/no-such-file.js", "/dashboard"}) {
    const HttpResponse response = router_.Handle(Get(path));
    const std::string policy = Header(response, "Content-Security-Policy");
    EXPECT_NE(policy.find("default-src 'self'"), std::string::npos) << path;
    EXPECT_NE(policy.find("script-src 'self';"), std::string::npos) << path << ": no inline or remote script";
    EXPECT_NE(policy.find("frame-ancestors 'none'"), std::string::npos) << path;
    EXPECT_EQ(policy.find("unsafe-eval"), std::string::npos) << path;
    EXPECT_EQ(Header(response, "X-Content-Type-Options"), "nosniff") << path;
    EXPECT_EQ(Header(response, "Referrer-Policy"), "no-referrer") << path;
    EXPECT_EQ(Header(response, "X-Frame-Options"), "DENY") << path;
  }
}

TEST_F(DashboardRoutesTest, WithoutTheSlashItRedirectsToTheFolder) {
  const HttpResponse response = router_.Handle(Get("/dashboard"));
  EXPECT_EQ(response.status, 301u);
  EXPECT_EQ(Header(response, "Location"), "/dashboard/");
}

TEST_F(DashboardRoutesTest, APathThatIsNoFileIs404NamingIt) {
  for (const char* path : {"/dashboard/keys", "/dashboard/assets/", "/dashboard/assets/missing.js", "/dashboard/assets",
                           "/dashboard//index.html", "/dashboard/INDEX.HTML"}) {
    const HttpResponse response = router_.Handle(Get(path));
    EXPECT_EQ(response.status, 404u) << path;
    EXPECT_EQ(response.content_type, "application/json") << path;
    EXPECT_NE(Json(response)["error"]["detail"].get<std::string>().find(path), std::string::npos) << response.body;
    EXPECT_EQ(response.route, "/dashboard/*") << path;
  }
}

TEST_F(DashboardRoutesTest, DotDotIsRefusedAndNothingOutsideTheFolderIsEverServed) {
  for (const char* path : {"/dashboard/../secret.txt", "/dashboard/assets/../../secret.txt", "/dashboard/..",
                           "/dashboard/assets/..%2f..%2fsecret.txt", "/dashboard/..%2Fsecret.txt"}) {
    const HttpResponse response = router_.Handle(Get(path));
    EXPECT_EQ(response.status, 400u) << path;
    EXPECT_EQ(Json(response)["error"]["errors"][0]["location"], "path") << response.body;
  }
  for (const char* path : {"/dashboard/%2e%2e/secret.txt", "/dashboard/secret.txt", "/dashboard//secret.txt"}) {
    const HttpResponse response = router_.Handle(Get(path));
    EXPECT_EQ(response.status, 404u) << path;
    EXPECT_EQ(response.body.find("outside the dashboard"), std::string::npos) << path;
  }
}

TEST(DashboardRoutesMissingTest, WithoutABuildEveryDashboardPathSaysHowToBuildOne) {
  TempDir temp;
  WriteFile(temp.Path() / "not-a-build" / "readme.txt", "no index.html here");
  for (const std::string& dir : {(temp.Path() / "no-such-folder").string(), (temp.Path() / "not-a-build").string(),
                                std::string()}) {
    Router router([](std::string_view) { return nullptr; });
    AddDashboardRoutes(router, dir);
    for (const char* path : {"/dashboard/", "/dashboard/assets/index.js", "/dashboard/readme.txt"}) {
      const HttpResponse response = router.Handle(Get(path));
      EXPECT_EQ(response.status, 404u) << dir << " " << path;
      const std::string detail = Json(response)["error"]["detail"];
      EXPECT_NE(detail.find("make build"), std::string::npos) << detail;
      EXPECT_NE(detail.find("--dashboard-dir"), std::string::npos) << detail;
    }
    EXPECT_EQ(router.Handle(Get("/dashboard")).status, 301u);
    // The API's own 404 is untouched.
    EXPECT_EQ(Json(router.Handle(Get("/nothing")))["error"]["detail"].get<std::string>().find("make build"),
              std::string::npos);
  }
}

TEST(DashboardFilesTest, AFolderTooLargeToBeABuildIsRefused) {
  TempDir temp;
  WriteFile(temp.Path() / "index.html", kIndexHtml);
  for (std::size_t i = 0; i < DashboardFiles::kMaxFiles; ++i) WriteFile(temp.Path() / "many" / std::to_string(i), "x");
  auto loaded = DashboardFiles::Load(temp.Path());
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().detail.find("not a dashboard build"), std::string::npos) << loaded.error().detail;

  std::filesystem::remove_all(temp.Path() / "many");
  loaded = DashboardFiles::Load(temp.Path());
  ASSERT_TRUE(loaded.has_value()) << loaded.error().detail;
  EXPECT_EQ(loaded->count(), 1u);
  EXPECT_EQ(loaded->bytes(), std::string(kIndexHtml).size());
}

TEST(DashboardContentTypeTest, ByExtension) {
  EXPECT_EQ(DashboardContentType("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(DashboardContentType("assets/a.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(DashboardContentType("favicon.ico"), "image/x-icon");
  EXPECT_EQ(DashboardContentType("assets/font.woff2"), "font/woff2");
  EXPECT_EQ(DashboardContentType("a.png"), "image/png");
  EXPECT_EQ(DashboardContentType("html"), "application/octet-stream");
  EXPECT_EQ(DashboardContentType("noextension"), "application/octet-stream");
}

}  // namespace
}  // namespace tollgate
