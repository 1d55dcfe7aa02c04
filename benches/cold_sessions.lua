-- wrk script: each request carries the next cookie of a file, so every request is the
-- first of its session; the thread stops when the file is used up (no warm requests).
-- Usage: wrk -t1 ... -s benches/cold_sessions.lua URL -- COOKIES_FILE HOST
local cookies, count, sent, answered = {}, 0, 0, 0
local host

function init(args)
  for line in io.lines(args[1]) do
    count = count + 1
    cookies[count] = line
  end
  host = args[2]
end

function request()
  sent = sent + 1
  local i = sent
  if i > count then i = count end
  return wrk.format("GET", "/", {
    ["Host"] = host,
    ["Cookie"] = "__Host-borderless_session=" .. cookies[i],
  })
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= count then
    wrk.thread:stop()
  end
end
