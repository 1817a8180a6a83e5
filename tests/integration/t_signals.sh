#!/usr/bin/env bash
# t_signals.sh: the signals an operator sends to the daemon.
#
#   USR1   reopen "log_file" (logrotate's postrotate, as for nginx); without
#          log_file the daemon logs to stderr (systemd's journal) and says so
#   HUP    reload the configuration (a bad one is refused, the old kept)
#   USR2, ALRM, PIPE, WINCH   ignored: the daemon goes on
#   TERM, INT, QUIT           a graceful stop, exit 0, one log line
#
# Before: SIGUSR1 killed the daemon silently (exit 138, no log line).
set -u
. "$(dirname "$0")/lib.sh"

[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir)
LOG=$d/replicator.log

write_conf() {
    cat > "$d/hr.json" <<JSON
{"storage": {"root": "$d/store"},
 "primary": {"url": "http://127.0.0.1:9"},
 $1
 "policies": [{"name": "p", "enabled": true,
               "trigger": {"type": "manual"}}$2]}
JSON
}

# wait_for FILE TEXT: up to 30 s for TEXT to appear in FILE
wait_for() {
    local i
    for i in $(seq 300); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

alive() {
    kill -0 "$1" 2>/dev/null
}

# start: a daemon in the background; sets PID
start() {
    "$HE_REPLICATOR" -c "$d/hr.json" daemon 2> "$d/stderr" &
    PID=$!
    he_defer "kill -9 $PID"
    wait_for "${1:-$LOG}" "daemon started" \
        || he_fail "the daemon did not start: $(cat "$d/stderr" "$LOG")"
}

# stop SIGNAL: the daemon ends with 0 and logs its stop
stop() {
    local log=${2:-$LOG} rc
    kill -"$1" "$PID"
    wait "$PID"
    rc=$?
    he_eq "SIG$1: the daemon stops with exit 0" "$rc" 0
    grep -q 'daemon: stopping on a signal' "$log" \
        || he_fail "SIG$1: no stop line in $log"
}

write_conf "\"log_file\": \"$LOG\"," ""
start
[ ! -s "$d/stderr" ] || he_fail "with log_file, stderr got: $(cat "$d/stderr")"
he_pass "with log_file the daemon logs to it: $(head -1 "$LOG")"

# logrotate: move the file away, then USR1
mv "$LOG" "$LOG.1"
kill -USR1 "$PID"
wait_for "$LOG" "SIGUSR1: log file reopened" \
    || he_fail "no reopen after USR1 (alive: $(alive $PID && echo yes || echo no))"
alive "$PID" || he_fail "USR1 killed the daemon"
he_pass "USR1: a new $LOG is opened, the daemon is alive"

for s in USR2 ALRM PIPE WINCH; do
    kill -"$s" "$PID"
done
# a reload after them shows they were read and the daemon still works
kill -HUP "$PID"
wait_for "$LOG" "reload: 1 policies" || he_fail "no reload after HUP"
alive "$PID" || he_fail "USR2, ALRM, PIPE or WINCH killed the daemon"
he_pass "USR2, ALRM, PIPE, WINCH are ignored; HUP reloads"

# a reload that adds a policy, then one with a bad file: kept
write_conf "\"log_file\": \"$LOG\"," ', {"name": "q"}'
kill -HUP "$PID"
wait_for "$LOG" "reload: 2 policies" || he_fail "HUP did not reload"
echo '{' > "$d/hr.json"
kill -HUP "$PID"
wait_for "$LOG" "keeping the running configuration" \
    || he_fail "a bad config on HUP was not refused"
alive "$PID" || he_fail "a bad reload killed the daemon"
he_pass "HUP: a good configuration is loaded, a bad one refused"

write_conf "\"log_file\": \"$LOG\"," ""
stop TERM

# without log_file: stderr, and USR1 says there is nothing to reopen
for s in INT QUIT; do
    write_conf "" ""
    start "$d/stderr"
    kill -USR1 "$PID"
    wait_for "$d/stderr" "SIGUSR1: no log_file, logging to stderr" \
        || he_fail "no USR1 line on stderr: $(cat "$d/stderr")"
    stop "$s" "$d/stderr"
done
he_pass "without log_file the daemon logs to stderr; USR1 keeps it"
