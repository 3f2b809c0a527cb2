#!/usr/bin/env bash
# A backend with nothing but a shell: mint a Herald token (HS256, with openssl), publish a
# notification, read a room's presence.
#   JWT_SECRET=... HERALD_URL=http://localhost:3000 ./herald.sh [room] [user]
set -euo pipefail

# Publish and presence are on the internal port when Herald has one (INTERNAL_PORT), else on PORT.
HERALD_URL=${HERALD_URL:-http://localhost:${INTERNAL_PORT:-${PORT:-3000}}}
ROOM=${1:-chat:42}
USER_ID=${2:-alice}
: "${JWT_SECRET:?set JWT_SECRET to the HS256 secret Herald verifies with}"

base64url() { base64 | tr '+/' '-_' | tr -d '=\n'; }

# A service token: who publishes (sub), what it may do (scope), and a short life (exp).
now=$(date +%s)
header=$(printf '{"alg":"HS256","typ":"JWT"}' | base64url)
claims=$(printf '{"sub":"billing","scope":"notifications:publish presence:read","iat":%d,"exp":%d}' "$now" $((now + 300)) | base64url)
signature=$(printf '%s' "$header.$claims" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | base64url)
TOKEN="$header.$claims.$signature"

# Publish to a room and to a user's personal room (and inbox). The id makes a retry safe: on a
# 503 or no answer, send the same body with the same id again, and it is delivered once. Keep
# it with the event it announces (here a random one).
ID="invoice-paid-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
# -w '\n' ends the answer's line, a 4xx body's too (set -e stops the script right after it).
curl -sS --fail-with-body -w '\n' "$HERALD_URL/v1/notifications" \
  -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"id\":\"$ID\",\"rooms\":[\"$ROOM\"],\"users\":[\"$USER_ID\"],\"type\":\"invoice.paid\",\"payload\":{\"title\":\"Invoice paid\",\"body\":\"From curl\"}}"

# Who is in the room, across all pods.
curl -sS --fail-with-body -w '\n' "$HERALD_URL/v1/rooms/$ROOM/presence" -H "authorization: Bearer $TOKEN"
