-- Password spraying: one IP trying a common password against many accounts.
-- Shared IPs (offices, carrier NAT) see failures for a few accounts an hour;
-- spraying shows 15-25.  8 distinct accounts failing from one IP in an hour
-- flags the IP (shadow: carrier-grade NAT makes this noisy for enforcement).
local MIN_ACCOUNTS = 8

local function sprays(ip, n, success)
  local evs = {}
  for i = 1, n do
    evs[i] = { user = { id = "u" .. i }, login = { ip = ip, success = success } }
  end
  return evs
end

return {
  name = "ato.password_spray",
  version = 1,
  description = "failed logins for 8+ distinct accounts from one IP in an hour",
  streams = { "login" },
  mode = "shadow",
  fields = { "login.ip", "login.success" },

  evaluate = function(ev, ctx)
    local login = ev.login
    if not login or login.success ~= false or type(login.ip) ~= "string" then return end
    local n = ctx.distinct("failed_users_by_ip", login.ip, "1h")
    if n >= MIN_ACCOUNTS then
      return ctx.flag{ entity = login.ip, entity_type = "ip", score = 0.5,
                       reason = string.format("failed logins for %.0f accounts in 1h", n) }
    end
  end,

  tests = {
    { name = "the 8th and 9th account failing from one IP flag the IP",
      events = sprays("45.155.7.7", 9, false),
      expect = { { verdict = "flag", entity = "45.155.7.7", reason = "failed logins for 8 accounts in 1h" },
                 { verdict = "flag", entity = "45.155.7.7", reason = "failed logins for 9 accounts in 1h" } } },
    { name = "many successful logins from one IP (an office) pass",
      events = sprays("24.1.1.1", 12, true), expect = {} },
  },
}
