// The SQL of SqliteStore's alerts.list and webhooks.listDeliveries reads for a filter (defined in
// sqlite_alerts.cc), exposed so that a test can ask SQLite how it plans each one: a filter set
// must be answered through its index, not by walking the table.
#pragma once

#include "alerts/alert_store.h"
#include "storage/history_query.h"

namespace tollgate {

storage::HistoryQuery SqliteAlertHistoryQuery(const AlertFilter& filter);
storage::HistoryQuery SqliteDeliveryHistoryQuery(const DeliveryFilter& filter);

}  // namespace tollgate
