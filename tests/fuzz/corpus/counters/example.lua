-- Counters of the example pack.  The engine updates them in C before the
-- rules of an event run, so every count includes the current event.
-- Windows slide over event time; a rule may only read a window listed here.
return {
  -- spam.link_burst: pins per account
  { name = "pins_by_user", stream = "pin_create", key = "user.id",
    windows = { "1m", "1h", "1d", "7d" } },

  -- unsafe.fanout: how many boards one exact text was pinned to
  { name = "boards_by_text", stream = "pin_create", key = "pin.text",
    distinct = "pin.board_id", windows = { "1h", "1d" } },

  -- spam.follow_burst: distinct accounts followed (re-follows don't count)
  { name = "follow_targets_by_user", stream = "follow", key = "user.id",
    distinct = "follow.target", windows = { "1h", "1d" } },

  -- spam.report_brigade, spam.brigade_member: distinct reporters per target
  { name = "reporters_by_target", stream = "report", key = "report.target_user",
    distinct = "user.id", windows = { "1h", "1d" } },

  -- fraud.card_testing: payments and distinct cards per account
  { name = "payments_by_user", stream = "payment", key = "user.id",
    windows = { "1h", "1d" } },
  { name = "card_bins_by_user", stream = "payment", key = "user.id",
    distinct = "payment.card_bin", windows = { "1h", "1d" } },

  -- ato.credential_stuffing: failed logins per account, and from how many IPs
  { name = "failed_logins_by_user", stream = "login", key = "user.id",
    where = { ["login.success"] = false }, windows = { "1h", "1d" } },
  { name = "failed_ips_by_user", stream = "login", key = "user.id",
    distinct = "login.ip", where = { ["login.success"] = false },
    windows = { "1h", "1d" } },

  -- ato.password_spray: distinct accounts failing from one IP
  { name = "failed_users_by_ip", stream = "login", key = "login.ip",
    distinct = "user.id", where = { ["login.success"] = false },
    windows = { "1h" } },
}
