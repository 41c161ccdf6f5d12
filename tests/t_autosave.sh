#!/bin/sh
# Autosave keeps the conversation whatever happens (issue 23, items 1 and 4):
#  - a full disk (the transcripts directory on a 64 KiB tmpfs, filled up
#    between messages): the conversation goes to a fallback place (the state
#    directory), the message says where, the exit status is 1 only after
#    that, and the file the user saved earlier is intact;
#  - the same with a write failure injected (GEMMA_CHAT_FAULT), no root needed;
#  - autosave never writes over a file the user named: /save ck, one more
#    message, /load ck loads the 2-message checkpoint.
# The tmpfs part needs root (mount); without it it is skipped (exit 77),
# except under CI=true, where it must run.
. "$(dirname "$0")/chat_lib.sh"
chat_init autosave
mounted=
cleanup() { [ -n "$mounted" ] && umount "$mounted" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
# No KV snapshots: their writes would take the injected write failures.
printf 'snapshots: { max_mib: 0 }\n' >"$T/nosnap.yaml"
G="-m $M --backend cpu --temp 0 -n 6 --persona none --no-tui -c $T/nosnap.yaml"
# user messages in a transcript file
n_user() { grep -c '^    role: user' "$1" 2>/dev/null || echo 0; }

setenv() {   # setenv DIR: fresh XDG directories under DIR
    export XDG_CONFIG_HOME=$1/config XDG_DATA_HOME=$1/data XDG_STATE_HOME=$1/state XDG_CACHE_HOME=$1/cache
    TR=$XDG_DATA_HOME/gemma-chat/transcripts
    FB=$XDG_STATE_HOME/gemma-chat/transcripts
}

# --- item 4: /save ck, one more message, /load ck: the checkpoint is intact ---
setenv "$T/ck"
printf 'one\ntwo\n/save ck\nthree\n/load ck\n/quit\n' | timeout 60 "$BIN" $G >"$T/ck.out" 2>"$T/ck.err"; rc=$?
[ $rc -eq 0 ] || bad "/save ck + /load ck: exit $rc ($(cat "$T/ck.err"))"
[ "$(n_user "$TR/ck.yaml")" = 2 ] && ok "/load ck after one more message: ck.yaml still holds its 2 messages" \
    || bad "ck.yaml holds $(n_user "$TR/ck.yaml") user messages, want 2 (autosave wrote over it)"
has "$(cat "$T/ck.err")" "Loaded $TR/ck.yaml (4 messages)" || bad "/load ck did not load the checkpoint: $(cat "$T/ck.err")"
other=
for f in "$TR"/*.yaml; do [ "$f" != "$TR/ck.yaml" ] && [ "$(n_user "$f")" = 3 ] && other=$f; done
[ -n "$other" ] && ok "the 3-message conversation went to a file of its own ($other)" \
    || bad "the 3-message conversation was not autosaved beside ck.yaml: $(ls "$TR")"

# --- item 1, injected: the autosave's write fails; the state directory takes it ---
setenv "$T/inj"
# write 1: /save keep; write 2: the autosave (fails); write 3: the fallback
printf 'one\ntwo\nthree\n/save keep\nfour\nfive\nsix\n/quit\n' |
    GEMMA_CHAT_FAULT=write:2 timeout 60 "$BIN" $G >"$T/inj.out" 2>"$T/inj.err"; rc=$?
[ $rc -eq 1 ] || bad "failed autosave with a fallback: exit $rc, want 1 ($(cat "$T/inj.err"))"
fbf=$(ls "$FB" 2>/dev/null | head -n 1)
[ -n "$fbf" ] && [ "$(n_user "$FB/$fbf")" = 6 ] && ok "injected write failure: all 6 messages in $FB/$fbf" \
    || bad "no fallback transcript with 6 messages in $FB: $(ls "$FB" 2>&1)"
has "$(cat "$T/inj.err")" "saved it to $FB/" && ok "the message names the fallback file" \
    || bad "the message does not say where the conversation went: $(cat "$T/inj.err")"
[ "$(n_user "$TR/keep.yaml")" = 3 ] || bad "keep.yaml changed: $(n_user "$TR/keep.yaml") user messages"

# --- nowhere to write: /clear refuses, and at the end the transcript goes to stderr ---
setenv "$T/none"
: >"$T/afile"
printf 'one\n/clear\n/quit\n' | XDG_DATA_HOME=$T/afile XDG_STATE_HOME=$T/afile XDG_CACHE_HOME=$T/afile \
    TMPDIR=$T/afile timeout 60 "$BIN" $G >"$T/none.out" 2>"$T/none.err"; rc=$?
[ $rc -eq 1 ] || bad "autosave nowhere: exit $rc, want 1"
has "$(cat "$T/none.err")" "the conversation stays" && ok "/clear refuses when the conversation cannot be saved" \
    || bad "/clear went ahead without a save: $(cat "$T/none.err")"
grep -q '^      one$' "$T/none.err" && has "$(cat "$T/none.err")" "the conversation follows" \
    && ok "autosave nowhere: the transcript is printed on stderr" || bad "autosave nowhere: $(cat "$T/none.err")"

# --- item 1 for real: a 64 KiB tmpfs that fills up between messages ---
if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then bad "the full-disk test needs root (mount -t tmpfs), and CI runs as root"; exit 1; fi
    [ $fail -eq 0 ] || exit 1
    echo "SKIP: full-disk autosave on a tmpfs (not root: cannot mount)"
    exit 77
fi
setenv "$T/full"
mkdir -p "$XDG_DATA_HOME"
if ! mount -t tmpfs -o size=64k tmpfs "$XDG_DATA_HOME" 2>"$T/mount.err"; then
    if [ "${CI:-}" = true ]; then bad "mount -t tmpfs failed: $(cat "$T/mount.err")"; exit 1; fi
    [ $fail -eq 0 ] || exit 1
    echo "SKIP: full-disk autosave on a tmpfs (mount failed: $(cat "$T/mount.err"))"
    exit 77
fi
mounted=$XDG_DATA_HOME
# The feeder waits for the 6th reply (show_stats prints one "[prompt ...]"
# line per reply, whatever the replies hold), fills the disk, then says /quit.
printf 'show_stats: true\n' >"$T/stats.yaml"
{
    printf 'one\ntwo\nthree\n/save keep\nfour\nfive\nsix\n'
    i=0
    while [ "$(grep -c '^\[prompt ' "$T/full.err" 2>/dev/null)" != 6 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    dd if=/dev/zero of="$XDG_DATA_HOME/filler" bs=1k count=128 2>/dev/null
    printf '/quit\n'
} | timeout 60 "$BIN" $G -c "$T/stats.yaml" >"$T/full.out" 2>"$T/full.err"; rc=$?
[ $rc -eq 1 ] || bad "full disk: exit $rc, want 1 once the conversation is safe ($(cat "$T/full.err"))"
fbf=$(ls "$FB" 2>/dev/null | head -n 1)
[ -n "$fbf" ] && [ "$(n_user "$FB/$fbf")" = 6 ] && ok "full disk: all 6 messages saved to $FB/$fbf" \
    || bad "full disk: no fallback transcript with the 6 messages in $FB ($(cat "$T/full.err"))"
has "$(cat "$T/full.err")" "saved it to $FB/" && ok "full disk: the message says where" \
    || bad "full disk: the message does not name the fallback: $(cat "$T/full.err")"
[ "$(n_user "$TR/keep.yaml")" = 3 ] && ok "full disk: keep.yaml intact" \
    || bad "full disk: keep.yaml holds $(n_user "$TR/keep.yaml") user messages, want 3"
exit $fail
