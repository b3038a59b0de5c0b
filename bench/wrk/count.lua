-- count.lua: count what wrk sends and gets, so its own figures can be checked.
--
--   wrk -t2 -c64 -d10s -s bench/wrk/count.lua http://127.0.0.1:3000/
--
-- wrk undercounts failures (docs/design.md §15): a refused connection shows up as a write
-- error, and a connection the server closes before answering is silently reconnected and not
-- counted at all. This script counts every request wrk starts (the request() callback runs
-- once per request, also on a refused or dropped connection) and every response it reads,
-- so "issued - responses" exposes both. wrk stops at -d without waiting for the requests in
-- flight, so up to one per connection (-c) is cut at the end; anything beyond that was lost.
--
-- Each wrk thread runs its own Lua state, so the counters are per thread; done() runs in the
-- main state after the threads finish and adds them up through thread:get().
-- Defining response() makes wrk parse every header into a Lua table: use this script to
-- check counts, not to measure top throughput.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   issued, responses, non2xx = 0, 0, 0 -- globals, so thread:get() can read them
   req = wrk.format() -- built once: wrk.method, wrk.path, wrk.headers as set above
end

function request()
   issued = issued + 1
   return req
end

function response(status, headers, body)
   responses = responses + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local issued_total, responses_total, non2xx_total = 0, 0, 0
   for _, thread in ipairs(threads) do
      issued_total = issued_total + thread:get("issued")
      responses_total = responses_total + thread:get("responses")
      non2xx_total = non2xx_total + thread:get("non2xx")
   end
   local e = summary.errors
   io.write(string.format(
      "count.lua: issued %d responses %d non-2xx %d unanswered %d (up to -c of them cut at the end)\n",
      issued_total, responses_total, non2xx_total, issued_total - responses_total))
   io.write(string.format(
      "wrk's own: requests %d errors connect %d read %d write %d timeout %d status(>399) %d\n",
      summary.requests, e.connect, e.read, e.write, e.timeout, e.status))
end
