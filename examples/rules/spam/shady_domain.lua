-- Pins linking to a domain the spam team has listed.  Shadow mode: the list
-- is curated by hand and occasionally catches a legitimate pin, so hits go to
-- the results store for the team to look at, not to enforcement.
local function pin(user, domain)
  return { user = { id = user }, pin = { domain = domain } }
end

return {
  name = "spam.shady_domain",
  version = 1,
  description = "pin links to a domain on the shady_domains list",
  streams = { "pin_create" },
  mode = "shadow",
  fields = { "user.id", "pin.domain" },

  evaluate = function(ev, ctx)
    local user, pin = ev.user, ev.pin
    if not (user and user.id and pin) or type(pin.domain) ~= "string" then return end
    local domain = string.gsub(string.lower(pin.domain), "^www%.", "")
    if ctx.in_list("shady_domains", domain) then
      return ctx.flag{ entity = user.id, entity_type = "user", reason = "link to " .. domain, score = 0.5 }
    end
  end,

  tests = {
    { name = "listed domain is flagged",
      events = { pin("u1", "free-giftcards.top") },
      expect = { { verdict = "flag", entity = "u1", reason = "link to free-giftcards.top" } } },
    { name = "case and www. do not hide a listed domain",
      events = { pin("u1", "WWW.Win-iPhone-Now.xyz") },
      expect = { { verdict = "flag", entity = "u1", reason = "link to win-iphone-now.xyz" } } },
    { name = "ordinary domains and pins without links pass",
      events = { pin("u2", "etsy.com"), { user = { id = "u2" }, pin = {} } },
      expect = {} },
  },
}
