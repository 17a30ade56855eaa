// The tollgate binary: `tollgate serve` runs the server; `tollgate apis|keys|rootkeys|usage ...` are the
// command line for people, talking to a running server.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "app/config.h"
#include "app/serve.h"
#include "cli/client_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"tollgate: API keys, rate limits, usage and billing for your API"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tollgate 0.1.0");

  tollgate::ServeConfig config;
  CLI::App* serve = app.add_subcommand("serve", "run the tollgate server");
  tollgate::AddServeOptions(*serve, config);
  if (const char* root_key = std::getenv("TOLLGATE_ROOT_KEY")) config.root_key = root_key;

  int exit_code = 0;
  tollgate::AddClientCommands(app, exit_code);

  if (auto status = tollgate::ApplyConfigFile(*serve, argc, argv); !status) {
    std::cerr << "tollgate: " << status.error().detail << "\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are ParseErrors that exit 0; anything else is a usage error (2).
    return app.exit(e) == 0 ? 0 : tollgate::kExitUsage;
  }
  if (serve->parsed()) return tollgate::RunServe(config);
  return exit_code;
}
