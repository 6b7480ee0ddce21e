#!/usr/bin/env bash
# make bench: the load benchmark of issue 6, then the Go micro-benchmarks and
# the concurrent-login load test. See bench/README.md.
#
# Starts, on 127.0.0.1 only: a trivial upstream (Caddy `respond "ok" 200`), the
# WeChat simulator, Caddy A (plain reverse_proxy to the upstream) and Caddy B
# (wechat_auth + the same reverse_proxy); logs in through B for a real session
# cookie; drives A and B with wrk alternately, then B's forward-auth endpoint
# beside a plain `respond` baseline; prints the table and the targets and writes
# everything to bench/results.txt.
#
# Environment (defaults in brackets):
#   DURATION [10s]  length of each measured wrk run (integer, s or m suffix)
#   WARMUP   [3s]   one warm-up run per target before the first round
#   CONNS    [32]   wrk connections          THREADS [2]  wrk threads
#   ROUNDS   [3]    measured rounds (each round runs every target once)
#   PIN      [auto] auto: on ≥2 CPUs, wrk on the last CPU and every Caddy on the
#                   others (see bench/README.md); off: no pinning;
#                   or "WRK_CPUS:CADDY_CPUS", e.g. "1:0" or "2-3:0-1"
#   LOGIN_LOAD [1000]  concurrent silent logins for TestConcurrentSilentLogins
#   SKIP_GO  [0]    1 skips the Go micro-benchmarks and the login load test
#   CADDY    [./caddy]  the binary (built with `go build` when missing)
#   RESULTS  [bench/results.txt]
#
# Exits non-zero only when something fails to run; a missed target is printed
# as MISSED, not turned into a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-auto}
LOGIN_LOAD=${LOGIN_LOAD:-1000}
SKIP_GO=${SKIP_GO:-0}
CADDY=${CADDY:-./caddy}
RESULTS=${RESULTS:-bench/results.txt}
GO=${GO:-go}

UA='Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323b) NetType/WIFI Language/zh_CN'
MOCK_USER=alice
COOKIE_NAME=wechat_session

log() { printf '%s\n' "bench: $*" >&2; }
die() {
	printf '%s\n' "bench: FAILED: $*" >&2
	exit 1
}

# ---- arguments -------------------------------------------------------------

seconds() { # 10s, 10, 2m -> seconds
	case $1 in
	*[!0-9sm]* | '' | s | m) return 1 ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
DUR_S=$(seconds "$DURATION") || die "DURATION=$DURATION: want e.g. 10s or 1m"
WARM_S=$(seconds "$WARMUP") || die "WARMUP=$WARMUP: want e.g. 3s"
for v in CONNS THREADS ROUNDS LOGIN_LOAD; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: want a positive integer"
done
((DUR_S > 0)) || die "DURATION must be > 0"
((CONNS >= THREADS)) || die "CONNS ($CONNS) must be >= THREADS ($THREADS) for wrk"

# ---- processes and cleanup -------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wechat-bench.XXXXXX")
PIDS=()
stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}
cleanup() {
	local rc=$?
	stop_all
	if ((rc != 0)); then
		local f
		for f in "$TMP"/*.log; do
			[[ -s $f ]] || continue
			printf '%s\n' "---- last lines of $(basename "$f")" >&2
			tail -n 15 "$f" >&2
		done
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools -----------------------------------------------------------------

apt_install() { # apt_install pkg...: apt-get update only when the install fails without it
	local sudo=()
	if (($(id -u) != 0)); then
		command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
		sudo=(sudo -n)
	fi
	command -v apt-get >/dev/null || die "$* missing and no apt-get: install it yourself"
	log "installing $* (apt-get)"
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >"$TMP/apt.log" 2>&1; then
		"${sudo[@]}" apt-get update -q >>"$TMP/apt.log" 2>&1 || die "apt-get update failed (see above)"
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$TMP/apt.log" 2>&1 ||
			{ tail -n 20 "$TMP/apt.log" >&2; die "apt-get install $* failed"; }
	fi
}
command -v wrk >/dev/null || apt_install wrk
command -v curl >/dev/null || apt_install curl
command -v wrk >/dev/null || die "wrk still not found after installing"

if [[ ! -x $CADDY ]]; then
	log "$CADDY missing: building it"
	"$GO" build -trimpath -o "$CADDY" ./cmd/caddy || die "go build failed"
fi
modules=$("$CADDY" list-modules 2>/dev/null) || die "$CADDY list-modules failed"
grep -qx http.handlers.wechat_auth <<<"$modules" ||
	die "$CADDY has no http.handlers.wechat_auth module (run make build)"

NCPU=$(nproc)
WRK_CPUS='' CADDY_CPUS=''
case $PIN in
auto)
	if ((NCPU >= 2)) && command -v taskset >/dev/null; then
		WRK_CPUS=$((NCPU - 1))
		CADDY_CPUS=0-$((NCPU - 2))
		((NCPU == 2)) && CADDY_CPUS=0
	fi
	;;
off | 0 | no) ;;
*:*)
	WRK_CPUS=${PIN%%:*} CADDY_CPUS=${PIN#*:}
	command -v taskset >/dev/null || die "PIN=$PIN needs taskset (util-linux)"
	;;
*) die "PIN=$PIN: want auto, off or WRK_CPUS:CADDY_CPUS" ;;
esac
WRK_PIN=() CADDY_PIN=()
[[ -n $WRK_CPUS ]] && WRK_PIN=(taskset -c "$WRK_CPUS")
[[ -n $CADDY_CPUS ]] && CADDY_PIN=(taskset -c "$CADDY_CPUS")
if [[ -n $WRK_CPUS ]]; then
	PIN_DESC="wrk on CPU $WRK_CPUS; upstream, simulator, Caddy A and Caddy B on CPU $CADDY_CPUS (taskset)"
else
	PIN_DESC="none (every process on every CPU)"
fi

# ---- ports -----------------------------------------------------------------

USED_PORTS=' '
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS+="$p "
			echo "$p"
			return 0
		fi
	done
	die "no free port found on 127.0.0.1"
}
export BENCH_UPSTREAM_PORT BENCH_PLAIN_PORT BENCH_PROTECTED_PORT BENCH_MOCK_PORT
BENCH_UPSTREAM_PORT=$(free_port)
USED_PORTS+="$BENCH_UPSTREAM_PORT "
BENCH_PLAIN_PORT=$(free_port)
USED_PORTS+="$BENCH_PLAIN_PORT "
BENCH_PROTECTED_PORT=$(free_port)
USED_PORTS+="$BENCH_PROTECTED_PORT "
BENCH_MOCK_PORT=$(free_port)

UPSTREAM=http://127.0.0.1:$BENCH_UPSTREAM_PORT
PLAIN=http://127.0.0.1:$BENCH_PLAIN_PORT
PROTECTED=http://127.0.0.1:$BENCH_PROTECTED_PORT
MOCK=http://127.0.0.1:$BENCH_MOCK_PORT

# Test keys for this run only, read by Caddy B at run time ({env.X}).
export BENCH_APP_SECRET=0123456789abcdef0123456789abcdef
BENCH_HASH_KEY=$(head -c 32 /dev/urandom | base64)
BENCH_BLOCK_KEY=$(head -c 32 /dev/urandom | base64)
export BENCH_HASH_KEY BENCH_BLOCK_KEY

# ---- start everything ------------------------------------------------------

start() { # start NAME CMD...: in the background, output to $TMP/NAME.log
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	PIDS+=("$!")
	eval "PID_$name=$!"
}
wait_http() { # wait_http NAME URL: until the URL answers at all (max 15 s)
	local name=$1 url=$2 pidvar="PID_$1" code
	for _ in $(seq 150); do
		kill -0 "${!pidvar}" 2>/dev/null || die "$name exited at start (log below)"
		code=$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$url" 2>/dev/null) || true
		[[ $code != 000 && -n $code ]] && return 0
		sleep 0.1
	done
	die "$name did not answer on $url within 15 s"
}

log "starting upstream, simulator, Caddy A (plain) and Caddy B (wechat_auth) on 127.0.0.1"
start upstream "${CADDY_PIN[@]}" "$CADDY" run --config bench/upstream.Caddyfile --adapter caddyfile
start mock "${CADDY_PIN[@]}" "$CADDY" wechat-mock --listen "127.0.0.1:$BENCH_MOCK_PORT"
start plain "${CADDY_PIN[@]}" "$CADDY" run --config bench/plain.Caddyfile --adapter caddyfile
start protected "${CADDY_PIN[@]}" "$CADDY" run --config bench/protected.Caddyfile --adapter caddyfile
wait_http upstream "$UPSTREAM/"
wait_http mock "$MOCK/"
wait_http plain "$PLAIN/"
wait_http protected "$PROTECTED/"

# ---- mint a session cookie by logging in for real ---------------------------

log "logging in as $MOCK_USER through Caddy B and the simulator"
JAR=$TMP/cookies.txt
out=$(curl -sS -L --max-redirs 10 --max-time 15 -c "$JAR" -b "$JAR" -A "$UA" -H "X-WeChat-Mock-User: $MOCK_USER" \
	-o "$TMP/login.body" -w '%{http_code} %{num_redirects} %{url_effective}' "$PROTECTED/bench/landing?from=menu") ||
	die "login request failed"
read -r code nredir final <<<"$out"
body=$(cat "$TMP/login.body")
[[ $code == 200 && $body == ok && $final == "$PROTECTED/bench/landing?from=menu" ]] ||
	die "login did not end at the upstream: status $code after $nredir redirects at $final, body: ${body:0:300}"
((nredir >= 2)) || die "login ended at the upstream without going through WeChat ($nredir redirects)"
COOKIE=$(awk -v n="$COOKIE_NAME" '$6 == n { v = $7 } END { print v }' "$JAR")
[[ -n $COOKIE ]] || die "no $COOKIE_NAME cookie in the jar after login"
log "logged in after $nredir redirects; $COOKIE_NAME is ${#COOKIE} bytes"

# The cookie must be what makes B answer 200: without it B redirects to WeChat.
check() { # check WHAT WANT_CODE URL [curl args]
	local what=$1 want=$2 url=$3 got
	shift 3
	got=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$@" "$url") || true
	[[ $got == "$want" ]] || die "$what: status $got, want $want ($url)"
}
check_all() {
	check "protected page with the session" 200 "$PROTECTED/" -A "$UA" -H "Cookie: $COOKIE_NAME=$COOKIE"
	check "forward-auth with the session" 200 "$PROTECTED/wechat_auth/auth" -A "$UA" -H "Cookie: $COOKIE_NAME=$COOKIE"
	check "plain proxy" 200 "$PLAIN/" -A "$UA" -H "Cookie: $COOKIE_NAME=$COOKIE"
	check "upstream" 200 "$UPSTREAM/" -A "$UA" -H "Cookie: $COOKIE_NAME=$COOKIE"
}
check "protected page without a session (must redirect to WeChat)" 302 "$PROTECTED/" -A "$UA"
fa=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' -A "$UA" "$PROTECTED/wechat_auth/auth") || true
[[ $fa != 200 && $fa != 000 ]] || die "forward-auth without a session answered $fa"
check_all

# ---- load ------------------------------------------------------------------

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ticks() { # cpu_ticks PID...: user+system CPU ticks used so far by these processes (all threads)
	local pid sum=0 t
	for pid in "$@"; do
		t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat") || die "process $pid is gone"
		sum=$((sum + t))
	done
	echo "$sum"
}

# run_wrk LABEL SECONDS URL SERVER_PID...: prints "req/s p50_us p99_us cpu_us_per_request",
# the last being the CPU the server-side processes spent per request during the run.
# Every target gets the same request: the WeChat UA and the session cookie.
run_wrk() {
	local label=$1 secs=$2 url=$3 out=$TMP/wrk-$1.txt before after
	shift 3
	before=$(cpu_ticks "$@")
	timeout -k 5 $((secs + 30)) "${WRK_PIN[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --latency --timeout 5s \
		-H "User-Agent: $UA" -H "Cookie: $COOKIE_NAME=$COOKIE" "$url" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk on $url failed"; }
	after=$(cpu_ticks "$@")
	if grep -q 'Non-2xx or 3xx' "$out"; then
		cat "$out" >&2
		die "$label: error responses from $url"
	fi
	if grep -q 'Socket errors:' "$out"; then
		printf '%s: %s\n' "$label" "$(grep 'Socket errors:' "$out" | sed 's/^ *//')" >>"$TMP/socket-errors.txt"
	fi
	awk -v cpu_us="$(((after - before) * 1000000 / CLK_TCK))" '
		function us(v) {
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return v * 1000
			if (v ~ /m$/) return v * 60e6
			if (v ~ /s$/) return v * 1e6
			return -1
		}
		/ requests in / { n = $1 }
		/^Requests\/sec:/ { rps = $2 }
		$1 == "50%" { p50 = us($2) }
		$1 == "99%" { p99 = us($2) }
		END {
			if (rps == "" || p50 == "" || p99 == "" || p50 < 0 || p99 < 0 || n <= 0) exit 1
			printf "%s %s %s %.1f\n", rps, p50, p99, cpu_us / n
		}' "$out" || { cat "$out" >&2; die "$label: cannot parse wrk output"; }
}

declare -A URL=([plain]=$PLAIN/ [protected]=$PROTECTED/ [respond]=$UPSTREAM/ [fwdauth]=$PROTECTED/wechat_auth/auth)
# The processes doing the server-side work of each target.
declare -A SERVERS=([plain]="$PID_plain $PID_upstream" [protected]="$PID_protected $PID_upstream"
	[respond]="$PID_upstream" [fwdauth]="$PID_protected")
declare -A RPS P50 P99 CPU

LOAD_AVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# Everything the machine ran besides this benchmark during the measured rounds:
# all busy CPU ticks (/proc/stat) minus the servers' and this script's children's (wrk, curl).
sys_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
own_ticks() { echo $(($(cpu_ticks "$PID_upstream" "$PID_mock" "$PID_plain" "$PID_protected") + $(awk '{ print $16 + $17 }' /proc/$$/stat))); }
log "warm-up: ${WARM_S}s per target"
if ((WARM_S > 0)); then
	for t in plain protected respond fwdauth; do
		# shellcheck disable=SC2086 # SERVERS holds a list of pids
		run_wrk "warmup-$t" "$WARM_S" "${URL[$t]}" ${SERVERS[$t]} >/dev/null
	done
fi
BUSY0=$(sys_busy) OWN0=$(own_ticks) T0=$(date +%s.%N)
for r in $(seq "$ROUNDS"); do
	# Alternate the order every round so drift favours neither side.
	if ((r % 2)); then order=(plain protected respond fwdauth); else order=(protected plain fwdauth respond); fi
	for t in "${order[@]}"; do
		log "round $r/$ROUNDS: $t (${DUR_S}s)"
		# shellcheck disable=SC2086
		res=$(run_wrk "$t-$r" "$DUR_S" "${URL[$t]}" ${SERVERS[$t]})
		read -r "RPS[$t,$r]" "P50[$t,$r]" "P99[$t,$r]" "CPU[$t,$r]" <<<"$res"
	done
done
BUSY1=$(sys_busy) OWN1=$(own_ticks) T1=$(date +%s.%N)
FOREIGN=$(awk -v b=$((BUSY1 - BUSY0)) -v o=$((OWN1 - OWN0)) -v t0="$T0" -v t1="$T1" -v hz="$CLK_TCK" \
	'BEGIN { f = (b - o) / hz / (t1 - t0) * 100; printf "%.0f", f < 0 ? 0 : f }')
check_all # the session still holds: no run measured redirects
LOAD_AVG_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
stop_all

# ---- report ----------------------------------------------------------------

OUT=$TMP/results.txt
: >"$OUT"
say() { printf '%s\n' "$*" | tee -a "$OUT"; }

median() { # median of the arguments
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
calc() { awk "BEGIN { printf \"$1\", ($2) }"; }
ms() { calc '%.3f' "$1 / 1000"; }

model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- . 2>/dev/null || commit+=" (with uncommitted changes)"

say "caddy-wechat-auth benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say ""
say "Machine"
say "  CPU:      ${model:-unknown}, nproc $NCPU"
say "  memory:   $mem"
say "  kernel:   $(uname -sr)"
say "  go:       $("$GO" version 2>/dev/null | sed 's/^go version //')"
say "  caddy:    $("$CADDY" version 2>/dev/null | head -n 1) (commit $commit)"
say "  wrk:      $(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }')"
say "  loadavg:  $LOAD_AVG_BEFORE before the load runs, $LOAD_AVG_AFTER after"
say ""
say "Load: wrk -t$THREADS -c$CONNS -d${DUR_S}s --latency on 127.0.0.1, $ROUNDS rounds, ${WARM_S}s warm-up per target,"
say "      targets alternated (order reversed every other round); CPU pinning: $PIN_DESC."
say "      Every request carries the WeChat User-Agent and a real $COOKIE_NAME cookie (${#COOKIE} bytes, minted"
say "      by logging in as '$MOCK_USER' through Caddy B and the simulator)."
say "  plain     = Caddy A: reverse_proxy to the upstream (a Caddy answering respond \"ok\" 200)"
say "  protected = Caddy B: wechat_auth (session checked, identity headers set) + the same reverse_proxy"
say "  ratio = B req/s ÷ A req/s; p99 over = B p99 ÷ A p99 − 1; CPU/req = user+system CPU the server-side"
say "  processes (proxy + upstream) spent per request during the run, from /proc; CPU ratio = B ÷ A, the cost"
say "  of wechat_auth in CPU, less sensitive than req/s to other load on the machine."
say "  Median row: each column's median over the rounds; the ratios and p99 over are medians of the per-round values."
say ""

table() { # table A B TITLE_A TITLE_B: per-round rows and the median row; sets MED_* for the verdicts
	local a=$1 b=$2 ta=$3 tb=$4 r ratio over cpur ratios=() overs=() cpurs=() fmt
	fmt='%-6s %9s %9s %6s %9s %9s %10s %10s %7s %8s %8s %6s'
	say "$(printf "$fmt" round "$ta" "$tb" ratio "$ta" "$tb" "$ta" "$tb" "p99" "$ta" "$tb" "CPU")"
	say "$(printf "$fmt" '' 'req/s' 'req/s' '' p50 p50 p99 p99 'over' 'CPU/req' 'CPU/req' ratio)"
	row() { # row LABEL RPS_A RPS_B RATIO P50_A P50_B P99_A P99_B OVER CPU_A CPU_B CPURATIO
		say "$(printf "$fmt" "$1" "$(calc '%.0f' "$2")" "$(calc '%.0f' "$3")" "$4" "$(ms "$5")ms" "$(ms "$6")ms" \
			"$(ms "$7")ms" "$(ms "$8")ms" "$9%" "$(calc '%.1f' "${10}")µs" "$(calc '%.1f' "${11}")µs" "${12}")"
	}
	for r in $(seq "$ROUNDS"); do
		ratio=$(calc '%.3f' "${RPS[$b,$r]} / ${RPS[$a,$r]}")
		over=$(calc '%+.1f' "(${P99[$b,$r]} / ${P99[$a,$r]} - 1) * 100")
		cpur=$(calc '%.3f' "${CPU[$b,$r]} / ${CPU[$a,$r]}")
		ratios+=("$ratio") overs+=("$over") cpurs+=("$cpur")
		row "$r" "${RPS[$a,$r]}" "${RPS[$b,$r]}" "$ratio" "${P50[$a,$r]}" "${P50[$b,$r]}" \
			"${P99[$a,$r]}" "${P99[$b,$r]}" "$over" "${CPU[$a,$r]}" "${CPU[$b,$r]}" "$cpur"
	done
	local col side t vals
	declare -A med
	for col in RPS P50 P99 CPU; do
		local -n arr=$col
		for side in a b; do
			t=${!side}
			vals=()
			for r in $(seq "$ROUNDS"); do vals+=("${arr[$t,$r]}"); done
			med[$col,$side]=$(median "${vals[@]}")
		done
		unset -n arr
	done
	MED_RATIO=$(calc '%.3f' "$(median "${ratios[@]}")")
	MED_OVER=$(calc '%+.1f' "$(median "${overs[@]}")")
	MED_CPU=$(calc '%.3f' "$(median "${cpurs[@]}")")
	MIN_RATIO=$(printf '%s\n' "${ratios[@]}" | sort -g | awk 'NR == 1')
	MAX_RATIO=$(printf '%s\n' "${ratios[@]}" | sort -g | awk 'END { print }')
	row median "${med[RPS,a]}" "${med[RPS,b]}" "$MED_RATIO" "${med[P50,a]}" "${med[P50,b]}" \
		"${med[P99,a]}" "${med[P99,b]}" "$MED_OVER" "${med[CPU,a]}" "${med[CPU,b]}" "$MED_CPU"
	say "  per-round throughput ratio range: $MIN_RATIO … $MAX_RATIO"
}

verdict() { # verdict OK(0/1) TEXT [NOTE]
	if (($1)); then say "  PASS    $2${3:+ $3}"; else say "  MISSED  $2${3:+ $3}"; fi
}

say "Reverse proxy: plain vs protected"
table plain protected plain prot
PROXY_RATIO=$MED_RATIO PROXY_OVER=$MED_OVER PROXY_CPU=$MED_CPU
say ""
say "Forward-auth: Caddy B's /wechat_auth/auth (200 + identity headers) vs a plain Caddy respond (the upstream)"
table respond fwdauth respond fwdauth
FA_RATIO=$MED_RATIO FA_CPU=$MED_CPU
say ""
say "Targets (issue 6)"
noisy=''
((FOREIGN > 10)) && noisy='(machine busy, see NOTE)'
verdict "$(calc '%d' "$PROXY_RATIO >= 0.95")" "protected/plain throughput ratio ≥ 0.95 at $CONNS connections: $PROXY_RATIO" "$noisy"
verdict "$(calc '%d' "$PROXY_OVER <= 10")" "p99 latency overhead ≤ 10%: ${PROXY_OVER}%" "$noisy"
say "  (info)  server CPU per request, protected ÷ plain: $PROXY_CPU"
say "  (info)  forward-auth ÷ respond: throughput $FA_RATIO, server CPU per request $FA_CPU"
if [[ -s $TMP/socket-errors.txt ]]; then
	say "  (info)  wrk socket errors:"
	sed 's/^/            /' "$TMP/socket-errors.txt" | tee -a "$OUT"
fi
if ((FOREIGN > 10)); then
	say "  NOTE    other processes on this machine used ${FOREIGN}% of a CPU (of $((NCPU * 100))%) during the measured runs:"
	say "          req/s and p99 are disturbed by them; the CPU/req ratio is the steadier figure."
else
	say "  (info)  other processes on this machine used ${FOREIGN}% of a CPU during the measured runs"
fi

# ---- Go micro-benchmarks and the login load test -----------------------------

RUN_FAILED=0
if ((SKIP_GO)); then
	say ""
	say "Go micro-benchmarks and login load test: skipped (SKIP_GO=1)"
else
	say ""
	say "Go micro-benchmarks: go test -run '^\$' -bench . -benchmem ./caddymodule/"
	if grep -qs '^func Benchmark' caddymodule/*_test.go; then
		log "running the Go micro-benchmarks"
		if "$GO" test -count=1 -timeout 15m -run '^$' -bench . -benchmem ./caddymodule/ >"$TMP/gobench.txt" 2>&1; then
			grep -E '^(Benchmark|goos|goarch|cpu|PASS|ok)' "$TMP/gobench.txt" | sed 's/^/  /' | tee -a "$OUT"
			bench_field() { # bench_field NAME UNIT: the value before UNIT on NAME's line
				awk -v n="$1" -v u="$2" '$1 ~ ("^" n "(-[0-9]+)?$") { for (i = 2; i <= NF; i++) if ($i == u) { print $(i - 1); exit } }' "$TMP/gobench.txt"
			}
			rep_ns=$(bench_field BenchmarkSessionCheckRepeat ns/op)
			rep_al=$(bench_field BenchmarkSessionCheckRepeat allocs/op)
			fs_ns=$(bench_field BenchmarkSessionCheckFirstSeen ns/op)
			if [[ -n $rep_ns && -n $rep_al ]]; then
				verdict "$(calc '%d' "$rep_ns <= 1000 && $rep_al <= 2")" "repeat-request session check ≤ 1 µs/op and ≤ 2 allocs/op: $rep_ns ns/op, $rep_al allocs/op"
			else
				say "  (no BenchmarkSessionCheckRepeat: repeat-request target not checked)"
			fi
			if [[ -n $fs_ns ]]; then
				verdict "$(calc '%d' "$fs_ns <= 8000")" "first-seen cookie ≤ 8 µs/op: $fs_ns ns/op"
			else
				say "  (no BenchmarkSessionCheckFirstSeen: first-seen target not checked)"
			fi
		else
			cat "$TMP/gobench.txt" | tee -a "$OUT" >&2
			if grep -qE '\[(build|setup) failed\]' "$TMP/gobench.txt"; then
				RUN_FAILED=1
				say "  FAILED TO RUN: the package does not build"
			else
				say "  MISSED  a micro-benchmark failed (output above)"
			fi
		fi
	else
		say "  skipped: no Benchmark functions in caddymodule/ yet"
	fi

	say ""
	say "Login load: LOGIN_LOAD=$LOGIN_LOAD go test -run TestConcurrentSilentLogins -v ./caddymodule/"
	if grep -qs '^func TestConcurrentSilentLogins' caddymodule/*_test.go; then
		log "running $LOGIN_LOAD concurrent silent logins"
		if LOGIN_LOAD=$LOGIN_LOAD "$GO" test -count=1 -timeout 15m -run '^TestConcurrentSilentLogins$' -v ./caddymodule/ >"$TMP/login.txt" 2>&1; then
			line=$(grep -m1 'logins/s' "$TMP/login.txt" | sed 's/^[[:space:]]*//; s/^[a-z_]*_test\.go:[0-9]*: //') || true
			say "  ${line:-(no logins/s line in the output)}"
			verdict 1 "$LOGIN_LOAD concurrent silent logins: zero failures, zero identity mix-ups"
		else
			sed 's/^/  /' "$TMP/login.txt" | tail -n 40 | tee -a "$OUT" >&2
			if grep -qE '\[(build|setup) failed\]' "$TMP/login.txt"; then
				RUN_FAILED=1
				say "  FAILED TO RUN: the package does not build"
			else
				verdict 0 "$LOGIN_LOAD concurrent silent logins: zero failures, zero identity mix-ups (output above)"
			fi
		fi
	else
		say "  skipped: no TestConcurrentSilentLogins in caddymodule/ yet"
	fi

	say ""
	say "Memory: MEMORY_SESSIONS=200000 go test -run TestMemoryBoundAfterManyDistinctSessions -v ./caddymodule/"
	if MEMORY_SESSIONS=200000 "$GO" test -count=1 -timeout 15m -run '^TestMemoryBoundAfterManyDistinctSessions$' -v ./caddymodule/ >"$TMP/mem.txt" 2>&1; then
		line=$(grep -m1 'heap grew' "$TMP/mem.txt" | sed 's/^[[:space:]]*//; s/^[a-z_]*_test\.go:[0-9]*: //') || true
		say "  ${line:-(no heap line in the output)}"
		verdict 1 "heap after 200,000 distinct sessions within the documented 48 MiB"
	else
		sed 's/^/  /' "$TMP/mem.txt" | tail -n 20 | tee -a "$OUT" >&2
		verdict 0 "heap after 200,000 distinct sessions within the documented 48 MiB (output above)"
	fi
fi

say ""
say "Reproduce: make bench   (DURATION, CONNS, ROUNDS, PIN, … in bench/README.md)"

cp "$OUT" "$RESULTS"
log "written to $RESULTS"
((RUN_FAILED == 0)) || die "a Go step did not build (see above)"
