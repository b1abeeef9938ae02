#!/bin/sh
# Quick-start demo: install dependencies, build, then run ingestd on a
# temporary staging/warehouse/manifests tree while files arrive the way real
# clients drop them (rsync, a slow writer, an sftp-style .part rename, a
# resend under another name, a new subdirectory), and show the result.
set -eu
top=$(cd "$(dirname "$0")" && pwd)
"$top/scripts/install-deps"
"$top/scripts/build"
bin=$top/build

D=$(mktemp -d /tmp/ingestd-demo.XXXXXX)
mkdir -p "$D/staging" "$D/warehouse" "$D/manifests" "$D/upstream"
export INGEST_WORKER="$bin/ingest-worker"
"$bin/ingestd" --input "$D/staging" --warehouse "$D/warehouse" \
    --manifests "$D/manifests" --state-path "$D/audit.db" \
    --stability-seconds 2 --concurrency 2 2>"$D/ingestd.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

wait_for() {	# wait_for SECONDS COMMAND...
	n=$(($1 * 10)); shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || { echo "demo: timed out" >&2; cat "$D/ingestd.log" >&2; exit 1; }
		sleep 0.1
	done
}
wait_for 10 grep -q '"event":"ready"' "$D/ingestd.log"
echo "== ingestd is running (pid $pid); dropping files into $D/staging"

# 1. rsync writes a hidden temp file and renames it when done
seq 1 2000 | sed 's/^/order,/' >"$D/upstream/orders.csv"
rsync -a "$D/upstream/orders.csv" "$D/staging/"
echo "   rsync      orders.csv"

# 2. an sftp-style client uploads NAME.part and renames it
seq 1 500 | sed 's/^/invoice,/' >"$D/staging/invoices.csv.part"
mv "$D/staging/invoices.csv.part" "$D/staging/invoices.csv"
echo "   sftp       invoices.csv (.part, then rename)"

# 3. the same bytes again under another name: archived once only
cp "$D/upstream/orders.csv" "$D/upstream/orders-resend.csv"
rsync -a "$D/upstream/orders-resend.csv" "$D/staging/"
echo "   resend     orders-resend.csv (same content as orders.csv)"

# 4. a new subdirectory appears with a file in it
mkdir -p "$D/staging/eu/2026"
rsync -a "$D/upstream/orders.csv" "$D/staging/eu/2026/orders-eu.csv.tmp"
printf 'eu,order,1\n' >>"$D/staging/eu/2026/orders-eu.csv.tmp"
mv "$D/staging/eu/2026/orders-eu.csv.tmp" "$D/staging/eu/2026/orders-eu.csv"
echo "   new dir    eu/2026/orders-eu.csv"

# 5. a slow writer appends for longer than the stability window
echo "   slow       customers.csv (written over ~4 s; ingested once, complete)"
for i in 1 2 3 4 5 6 7 8; do
	seq "$((i * 100))" "$((i * 100 + 99))" | sed 's/^/customer,/' \
	    >>"$D/staging/customers.csv"
	sleep 0.5
done

done_count() {
	[ "$(sqlite3 "$D/audit.db" "SELECT count(*) FROM files WHERE state IN
	    ('MANIFESTED','SKIPPED_DUPLICATE')")" -ge 5 ]
}
wait_for 30 done_count

echo
echo "== ingestctl -s $D/ingestd.sock status   (live, from the running daemon)"
"$bin/ingestctl" -s "$D/ingestd.sock" status
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT

echo
echo "== archive ($D/warehouse)"
(cd "$D/warehouse" && find . -type f | sort)
echo
echo "== manifest lines"
cat "$D"/manifests/*/*/*/*/manifest.jsonl
echo
echo "== ingestctl --db $D/audit.db query"
"$bin/ingestctl" --db "$D/audit.db" query --format table
echo
dup=$(sqlite3 "$D/audit.db" "SELECT id FROM files WHERE state = 'SKIPPED_DUPLICATE'")
echo "== ingestctl --db $D/audit.db show $dup   (the resend, pointing at its original)"
"$bin/ingestctl" --db "$D/audit.db" show "$dup"
echo
echo "== ingestctl --db $D/audit.db status   (the daemon has stopped)"
"$bin/ingestctl" --db "$D/audit.db" status
echo
echo "== staging is empty: $(find "$D/staging" -type f | wc -l) files left"
echo "== logs: $D/ingestd.log (one JSON object per line)"
