// `tollgate usage`: recorded usage (verifications, keys.authorize and ratelimit.limit calls) as a
// table with one row per period and a bar per row, then the totals over the range.
//
//   tollgate usage                              everything, the last 24 hours, per hour
//   tollgate usage --key key_3Fd --since 1h     one key, the last hour, per minute
//   tollgate usage --identity acme --since 30d --by day --top 5
//   tollgate usage --api api_7Qk --from 2025-01-01 --to 2025-02-01
//
// Scope: --key, --identity (an externalId) and --api narrow it; given together they all apply;
// none means everything. Range: --since <duration> ending now, or --from/--to (ISO-8601 UTC, a
// date, or Unix ms; --to defaults to now, --from to 24 hours before --to); the default is the
// last 24 hours. The start is moved back to the start of its period, because the server counts
// whole periods, so every row covers a whole period; the end is exclusive. --by picks the period
// (minute, hour, day, month); by default the finest one that keeps the table to about 60 rows.
// Periods are UTC. Periods without usage show as rows of zeros, so the time axis has no gaps.
//
// Each row shows TOTAL, VALID, PASSED (ratelimit.limit calls that passed; only when there are
// any), DENIED (every other outcome), CREDITS, and a bar scaled to the busiest row: full blocks
// for what passed, light shade for what was denied; '#' and 'x' when --ascii is given or the
// locale is not UTF-8 (LC_ALL, LC_CTYPE, LANG). The totals name the denied outcomes by code.
// --top N adds the N busiest keys and identities (not the keys when --key is given, nor the
// identities with --identity).
//
// --json prints {"start", "end", "granularity", "points"} (the usage.timeseries data grouped by
// outcome, with the range asked for) plus "topKeys" / "topIdentities" with --top. Exit codes are
// client_commands.h's: 2 for a bad flag or a range the server would refuse (empty, over 400
// days, over 10,000 rows), 1 when the server refuses the request.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/command_session.h"

namespace tollgate::cli {

void AddUsageCommand(CLI::App& app, const SharedPtr& shared);

}  // namespace tollgate::cli
