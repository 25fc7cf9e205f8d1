-- Pktgen-DPDK script: plaintext (encrypt-direction) UDP traffic for ferrogate as the device
-- under test, with the addresses of ferrogate's benchmark lab (dpdk-config/memif-bench.toml,
-- `ferrogate bench`). Port SEND_PORT feeds ferrogate's inside interface; port RECV_PORT
-- receives the ESP that ferrogate sends out of its outside interface. Not run in
-- ferrogate's CI (Pktgen is not installed there): see scripts/pktgen/README.md.
--
--   pktgen ... -- -P -m "[2:3].0,[4:5].1" -f scripts/pktgen/ferrogate-enc.lua
--
-- Sizes are Pktgen's, i.e. frame lengths WITH the 4-byte FCS. "64" and "imix" (64/594/1518)
-- are the usual wire sizes, 4 bytes shorter than ferrogate bench's, whose sizes exclude the
-- FCS (set SIZE = "68" for its 64 B frames); "1420" is its 1420-byte IPv4 packet (1438).

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

-- What to send; edit here (or set the globals before loading this file).
local SIZE        = SIZE or "64"      -- "64" | "imix" | "1420" | any frame length 64..1518
local FLOWS       = FLOWS or 1000     -- distinct source addresses (172.16.0.1 + i)
local TUNNELS     = TUNNELS or 1      -- destination hosts 10.128.0.0 + i (one per tunnel)
local RATE_PCT    = RATE_PCT or 100   -- percent of the port's line rate
local DURATION_MS = DURATION_MS or 10000
local SEND_PORT   = SEND_PORT or "0"
local RECV_PORT   = RECV_PORT or "1"

-- ferrogate's benchmark lab (src/bench/topology.rs).
local FG_INSIDE_MAC = "02:fe:00:00:01:01"  -- ferrogate's inside interface
local GW_MAC        = "02:fe:00:00:01:02"  -- the router the local hosts sit behind
local SRC_FIRST     = "172.16.0.1"
local DST_FIRST     = "10.128.0.0"
local UDP_SPORT     = 1024
local UDP_DPORT     = 5001

-- "a.b.c.d" plus n, for the range maxima.
local function ip_add(ip, n)
    local a, b, c, d = ip:match("(%d+)%.(%d+)%.(%d+)%.(%d+)")
    local v = ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d) + n
    return string.format("%d.%d.%d.%d", math.floor(v / 16777216) % 256,
        math.floor(v / 65536) % 256, math.floor(v / 256) % 256, v % 256)
end

pktgen.screen("off")
pktgen.stop("all")
pktgen.clr()

pktgen.set_proto(SEND_PORT, "udp")
pktgen.set_type(SEND_PORT, "ipv4")
pktgen.set(SEND_PORT, "rate", RATE_PCT)
pktgen.set(SEND_PORT, "count", 0)
pktgen.set(SEND_PORT, "burst", 32)

if SIZE == "imix" then
    -- IMIX 7:4:1 of 64/594/1518-byte frames, interleaved as ferrogate bench does, as a
    -- 12-packet sequence (Pktgen sends sequence packets in turn). A sequence has fixed
    -- headers: 12 flows over min(TUNNELS, 12) tunnels.
    local sizes = {64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 64, 594}
    for i, size in ipairs(sizes) do
        pktgen.seqTable(i - 1, SEND_PORT, {
            ["eth_dst_addr"] = FG_INSIDE_MAC,
            ["eth_src_addr"] = GW_MAC,
            ["ip_dst_addr"]  = ip_add(DST_FIRST, (i - 1) % TUNNELS),
            ["ip_src_addr"]  = ip_add(SRC_FIRST, i - 1) .. "/12",
            ["sport"]        = UDP_SPORT,
            ["dport"]        = UDP_DPORT,
            ["ethType"]      = "ipv4",
            ["ipProto"]      = "udp",
            ["vlanid"]       = 1,
            ["pktSize"]      = size,
        })
    end
    pktgen.set(SEND_PORT, "seqCnt", #sizes)
else
    local size = (SIZE == "1420") and 1438 or tonumber(SIZE)
    -- Range mode: the source address walks FLOWS hosts, the destination TUNNELS hosts, so
    -- that every tunnel's /32 protect policy (ferrogate bench's lab) or the /16 one of
    -- memif-bench.toml matches.
    pktgen.range.dst_mac(SEND_PORT, "start", FG_INSIDE_MAC)
    pktgen.range.src_mac(SEND_PORT, "start", GW_MAC)
    pktgen.range.src_ip(SEND_PORT, "start", SRC_FIRST)
    pktgen.range.src_ip(SEND_PORT, "inc", "0.0.0.1")
    pktgen.range.src_ip(SEND_PORT, "min", SRC_FIRST)
    pktgen.range.src_ip(SEND_PORT, "max", ip_add(SRC_FIRST, FLOWS - 1))
    pktgen.range.dst_ip(SEND_PORT, "start", DST_FIRST)
    pktgen.range.dst_ip(SEND_PORT, "inc", (TUNNELS > 1) and "0.0.0.1" or "0.0.0.0")
    pktgen.range.dst_ip(SEND_PORT, "min", DST_FIRST)
    pktgen.range.dst_ip(SEND_PORT, "max", ip_add(DST_FIRST, TUNNELS - 1))
    pktgen.range.src_port(SEND_PORT, "start", UDP_SPORT)
    pktgen.range.src_port(SEND_PORT, "inc", 0)
    pktgen.range.src_port(SEND_PORT, "min", UDP_SPORT)
    pktgen.range.src_port(SEND_PORT, "max", UDP_SPORT)
    pktgen.range.dst_port(SEND_PORT, "start", UDP_DPORT)
    pktgen.range.dst_port(SEND_PORT, "inc", 0)
    pktgen.range.dst_port(SEND_PORT, "min", UDP_DPORT)
    pktgen.range.dst_port(SEND_PORT, "max", UDP_DPORT)
    pktgen.range.pkt_size(SEND_PORT, "start", size)
    pktgen.range.pkt_size(SEND_PORT, "inc", 0)
    pktgen.range.pkt_size(SEND_PORT, "min", size)
    pktgen.range.pkt_size(SEND_PORT, "max", size)
    pktgen.range.ip_proto(SEND_PORT, "udp")
    pktgen.set_range(SEND_PORT, "on")
end

printf("ferrogate enc: size %s, %d flows, %d tunnel(s), %d%% rate, %d ms\n",
    SIZE, FLOWS, TUNNELS, RATE_PCT, DURATION_MS)
pktgen.delay(1000)
pktgen.start(SEND_PORT)
pktgen.delay(DURATION_MS)
pktgen.stop(SEND_PORT)
-- Let what is in flight through ferrogate arrive.
pktgen.delay(500)

local stats = pktgen.portStats("all", "port")
local sent = stats[tonumber(SEND_PORT)]["opackets"]
local got = stats[tonumber(RECV_PORT)]["ipackets"]
local secs = DURATION_MS / 1000
printf("sent %d packets (%.3f Mpps), received %d ESP packets (%.3f Mpps), lost %d (%.3f%%)\n",
    sent, sent / secs / 1e6, got, got / secs / 1e6, sent - got,
    (sent > 0) and ((sent - got) * 100 / sent) or 0)
