-- The velocity job of bench/kafka.sh (lines V and VR): failed logins per
-- user in a sliding hour.  One counter, keyed on user.id.
return {
  { name = "failed_logins_by_user", stream = "login", key = "user.id",
    where = { ["login.success"] = false }, windows = { "1h" } },
}
