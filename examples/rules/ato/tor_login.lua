-- Successful login through a Tor exit.  Some owners use Tor on purpose, so
-- this only flags (shadow) to give analysts context next to other ATO hits.
local function login(user, ip, success)
  return { user = { id = user }, login = { ip = ip, success = success } }
end

return {
  name = "ato.tor_login",
  version = 1,
  description = "successful login from a Tor exit range",
  streams = { "login" },
  mode = "shadow",
  fields = { "user.id", "login.ip", "login.success" },

  evaluate = function(ev, ctx)
    local user, login = ev.user, ev.login
    if not (user and user.id and login) or login.success ~= true then return end
    if type(login.ip) == "string" and ctx.in_list("tor_exits", login.ip) then
      return ctx.flag{ entity = user.id, entity_type = "user", reason = "login from Tor exit " .. login.ip, score = 0.3 }
    end
  end,

  tests = {
    { name = "IPv4 and IPv6 Tor exits are flagged",
      events = { login("u1", "185.220.101.34", true), login("u2", "2001:67c:e60:c0c:192:42:116:20", true) },
      expect = { { verdict = "flag", entity = "u1", reason = "login from Tor exit 185.220.101.34" },
                 { verdict = "flag", entity = "u2" } } },
    { name = "failed Tor logins and ordinary IPs pass",
      events = { login("u1", "185.220.101.34", false), login("u1", "185.220.96.1", true),
                 login("u1", "24.3.4.5", true) },
      expect = {} },
  },
}
