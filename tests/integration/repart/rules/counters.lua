-- Counters keyed on four fields (user id, IP, device id, reported target),
-- two of them distinct counts: the repartitioned path's test pack.
return {
  { name = "logins_by_user", stream = "login", key = "user.id", windows = { "1h" } },
  { name = "users_by_ip", stream = "login", key = "login.ip", distinct = "user.id", windows = { "1h" } },
  { name = "logins_by_device", stream = "login", key = "device.id", windows = { "1h" } },
  { name = "failed_by_device", stream = "login", key = "device.id", where = { ["login.success"] = false },
    windows = { "1h" } },
  { name = "reporters_by_target", stream = "report", key = "report.target_user", distinct = "user.id",
    windows = { "1h" } },
}
