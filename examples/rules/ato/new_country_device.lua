-- Account takeover: a successful login from a country the account does not
-- live in, on a device it never used.  Either alone is everyday life
-- (holidays, new phones: ~1.5% and ~1% of logins in the sample); both at
-- once is rare for owners and typical for takeovers.  The account goes to
-- review and is labelled "ato_suspect" for a day, which
-- fraud.payment_after_ato and ato.email_change_after_suspect act on.
local function login(user, home, geo, new_device, success)
  return { user = { id = user, country = home },
           login = { ip = "81.2.3.4", success = success, new_device = new_device,
                     geo = { country = geo } } }
end

return {
  name = "ato.new_country_device",
  version = 2,
  description = "successful login from a foreign country on a new device",
  streams = { "login" },
  mode = "enforce",
  fields = { "user.id", "user.country", "login.success", "login.new_device", "login.geo.country" },

  evaluate = function(ev, ctx)
    local user, login = ev.user, ev.login
    if not (user and user.id and login) then return end
    if login.success ~= true or login.new_device ~= true then return end
    local geo, home = login.geo and login.geo.country, user.country
    if type(geo) ~= "string" or type(home) ~= "string" or geo == home then return end
    ctx.label(user.id, "ato_suspect", "1d")
    return ctx.review{ entity = user.id, entity_type = "user", score = 0.7, ttl = "1d",
                       reason = "new device in " .. geo .. ", home " .. home }
  end,

  tests = {
    { name = "new device abroad goes to review",
      events = { login("u1", "US", "RO", true, true) },
      expect = { { verdict = "review", entity = "u1", reason = "new device in RO, home US" } } },
    { name = "travel with the usual device, a new phone at home, a failed try: all pass",
      events = { login("u1", "US", "FR", false, true), login("u1", "US", "US", true, true),
                 login("u1", "US", "RO", true, false) },
      expect = {} },
    { name = "missing geo or home country passes",
      events = { { user = { id = "u2", country = "US" }, login = { success = true, new_device = true } },
                 { user = { id = "u2" }, login = { success = true, new_device = true, geo = { country = "RO" } } } },
      expect = {} },
  },
}
