-- Reads counters of three keys on one login and labels the user.
return {
  name = "t.multi_key_login",
  version = 1,
  streams = { "login" },
  mode = "enforce",
  fields = { "user.id", "login.ip", "device.id" },
  evaluate = function(ev, ctx)
    local u, ip, dev = ev.user.id, ev.login.ip, ev.device.id
    local n = ctx.count("logins_by_user", u, "1h")
    local users = ctx.distinct("users_by_ip", ip, "1h")
    local d = ctx.count("logins_by_device", dev, "1h")
    local f = ctx.count("failed_by_device", dev, "1h")
    if users >= 52 and d >= 62 then
      ctx.label(u, "shared_infra", "1h")
      return ctx.flag{ entity = u, reason = string.format("n=%d users=%d dev=%d failed=%d", n, users, d, f) }
    end
  end,
}
