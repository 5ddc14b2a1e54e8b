-- Credential stuffing against one account: leaked passwords tried from a
-- new IP every time.  A person who mistypes fails a few times from one IP;
-- attackers fail dozens of times from dozens of IPs.  At 10+ failures from
-- 5+ IPs in an hour the account goes to review once (label
-- "stuffing_review" for an hour), and a *successful* login at that point is
-- blocked and the account labelled "ato_suspect".
local MIN_FAILURES = 10
local MIN_IPS = 5

local function attempts(user, n, nips, success_at)
  local evs = {}
  for i = 1, n do
    evs[i] = { user = { id = user },
               login = { ip = "45.133.0." .. ((i - 1) % nips + 1), success = (i == success_at) } }
  end
  return evs
end

return {
  name = "ato.credential_stuffing",
  version = 3,
  description = "10+ failed logins from 5+ IPs in an hour: review, and block a login that then succeeds",
  streams = { "login" },
  mode = "enforce",
  fields = { "user.id", "login.success" },

  evaluate = function(ev, ctx)
    local user, login = ev.user, ev.login
    if not (user and user.id and login) then return end
    local failures = ctx.count("failed_logins_by_user", user.id, "1h")
    if failures < MIN_FAILURES then return end
    local ips = ctx.distinct("failed_ips_by_user", user.id, "1h")
    if ips < MIN_IPS then return end
    local what = string.format("%d failed logins from %.0f IPs in 1h", failures, ips)
    if login.success == true then
      ctx.label(user.id, "ato_suspect", "1d")
      return ctx.block{ entity = user.id, entity_type = "user", score = 0.95, ttl = "1d", reason = "login succeeded after " .. what }
    end
    if not ctx.has_label(user.id, "stuffing_review") then
      ctx.label(user.id, "stuffing_review", "1h")
      return ctx.review{ entity = user.id, entity_type = "user", score = 0.6, reason = "credential stuffing: " .. what }
    end
  end,

  tests = {
    { name = "stuffing goes to review once",
      events = attempts("u1", 14, 14),
      expect = { { verdict = "review", entity = "u1", reason = "credential stuffing: 10 failed logins from 10 IPs in 1h" } } },
    { name = "a success after stuffing is blocked",
      events = attempts("u1", 13, 13, 13),
      expect = { { verdict = "review", entity = "u1" },
                 { verdict = "block", entity = "u1", reason = "login succeeded after 12 failed logins from 12 IPs in 1h" } } },
    { name = "many typos from two IPs are no stuffing",
      events = attempts("u2", 15, 2, 15), expect = {} },
    { name = "failures spread over a day are no stuffing",
      events = (function()
        local evs = attempts("u3", 12, 12)
        for i, e in ipairs(evs) do e.ts = string.format("2026-11-20T%02d:00:00Z", i) end
        return evs
      end)(),
      expect = {} },
  },
}
