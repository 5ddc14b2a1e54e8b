return {
  { name = "c", stream = "s", key = "user.id", windows = { "1m", "7d" } },
  { name = "d", stream = "s", key = "ip", distinct = "user.id", windows = { "1h" } },
}
