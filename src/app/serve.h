// `tollgate serve`: the composition root. The only code that names concrete backends: it opens
// the store named by --store, builds the services on it, routes HTTP to them, and runs until
// SIGTERM or SIGINT.
#pragma once

#include "app/config.h"

namespace tollgate {

// Returns the process exit code: 0 after a clean shutdown, 1 if start-up failed.
int RunServe(const ServeConfig& config);

}  // namespace tollgate
