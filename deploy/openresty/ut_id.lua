-- ut_id.lua: give readers of article pages a UT_ID cookie (a random UUID, version 4).
--
-- In the nginx location of the article pages (see site.conf.example):
--     access_by_lua_file /etc/nginx/recsys/ut_id.lua;
-- with recsys.conf included at http level: it defines $ut_id (the UT_ID cookie when that is a
-- well-formed UUID, else "") and the log_format that writes $ut_id.
--
-- No redirect. The classic script set the cookie and answered 302 to the same URL: the first view
-- was logged without id (a lost view), and a client that refuses cookies looped on redirects.
-- Here a request without a valid cookie gets a fresh id in the Set-Cookie header of the page itself,
-- and the same id in $ut_id, so the access log attributes this first view to it. A client that
-- refuses cookies gets a new id with each article (each view a session of its own), never a loop.
-- A tampered or oversized cookie is not valid, so it is replaced, never logged.

local COOKIE = "UT_ID"            -- keep in step with $cookie_UT_ID in recsys.conf
local MAX_AGE = 365 * 24 * 3600   -- one year, in seconds (browsers cap cookies at 400 days)

-- Per-worker state, set up once: nginx runs this file anew for each request, while package.loaded
-- lives as long as the worker. The random source: OpenSSL's RAND_bytes through resty.random where
-- it exists (OpenResty, lua-resty-string), else the kernel's /dev/urandom. Never math.random.
local state = package.loaded["recsys.ut_id"]
if not state then
    local ok, random = pcall(require, "resty.random")
    if ok then
        state = { source = "resty.random", bytes = function() return random.bytes(16, true) end }
    else
        local f, err = io.open("/dev/urandom", "rb")
        state = { source = f and "/dev/urandom" or ("nothing: " .. tostring(err)),
                  bytes = function() return f and f:read(16) end }
    end
    package.loaded["recsys.ut_id"] = state
    ngx.log(ngx.INFO, "recsys ut_id: random bytes from ", state.source)
end

local id = ngx.var.ut_id
if id == nil then    -- never break the page: log the mistake and serve it without cookie
    ngx.log(ngx.ERR, "recsys ut_id: $ut_id is not defined; include recsys.conf in the http block")
    return
end
if id ~= "" then     -- a valid cookie: $ut_id already holds it, nothing to do
    return
end

local b = state.bytes()
if not b or #b ~= 16 then
    ngx.log(ngx.ERR, "recsys ut_id: no random bytes (source: ", state.source, ")")
    return
end
local x = { b:byte(1, 16) }
x[7] = 0x40 + x[7] % 16   -- version 4 (random)
x[9] = 0x80 + x[9] % 64   -- variant 10xx (RFC 4122)
id = string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", unpack(x))

local cookie = COOKIE .. "=" .. id .. "; Max-Age=" .. MAX_AGE .. "; Path=/; SameSite=Lax; HttpOnly"
local secure = ngx.var.ut_id_secure or ngx.var.https   -- see recsys.conf
if secure and secure ~= "" then
    cookie = cookie .. "; Secure"
end

-- add to, rather than replace, any Set-Cookie already set for this response
local set = ngx.header["Set-Cookie"]
if set == nil then
    set = cookie
elseif type(set) == "table" then
    set[#set + 1] = cookie
else
    set = { set, cookie }
end
ngx.header["Set-Cookie"] = set
ngx.var.ut_id = id        -- what the access log writes for this request
