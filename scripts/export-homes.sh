#!/usr/bin/env bash
# After a workshop: save every attendee's home directory (their notebooks and files) as one
# tar.gz per user, before the volumes are removed. Read-only: volumes are mounted :ro.
set -euo pipefail

usage() {
  cat <<'TXT'
Usage: scripts/export-homes.sh [--instance NAME] [--image IMAGE] OUT_DIR

Writes OUT_DIR/<user>.tar.gz (mode 0600) for each home volume <instance>-home-<user> on this
Docker host; each is written as <user>.tar.gz.part and renamed once complete.
  --instance NAME  the lab's GLUONLAB_INSTANCE (default: $GLUONLAB_INSTANCE or gluonlab)
  --image IMAGE    image used to read the volumes (default: gluonlab/notebook:cpu)
Nothing is deleted; remove the volumes yourself afterwards (see README "After the workshop").
Homes that are their own file system (GLUONLAB_HOME_SIZE) are attached through the running hub
container (<instance>-hub-1): export them before `docker compose down`.
TXT
}

die() { printf 'export-homes: %s\n' "$*" >&2; exit 1; }

export_one() {
  # A home holds an attendee's work: only the admin may read the archive (0600, written by
  # this shell, not by root in the container), and a half-written archive never carries the
  # final name (a crash leaves <user>.tar.gz.part, removed on the next run).
  local image="$1" volume="$2" dest="$3" hub="$4"
  local part="$dest.part"
  rm -f "$part"
  home_open "$volume" "$hub"
  (umask 077 && docker run --rm --network none --user 0 -v "$volume:/home/user:ro" --entrypoint tar "$image" \
    -C /home/user -czf - . >"$part") || { home_close "$volume" "$hub"; rm -f "$part"; die "reading volume $volume failed"; }
  home_close "$volume" "$hub"
  chmod 600 "$part"
  mv -f "$part" "$dest"
}

is_sized() {
  # A home that is its own file system (GLUONLAB_HOME_SIZE, hub/gluonlab_hub/homes.py) can be
  # mounted only while its loop device is attached: the hub attaches it for a stopped user.
  [[ -n "$(docker volume inspect --format '{{ index .Labels "org.gluonlab.home-size" }}' "$1" 2>/dev/null)" ]]
}

home_open() {
  local volume="$1" hub="$2"
  is_sized "$volume" || return 0
  docker exec "$hub" python3 -m gluonlab_hub.homes open "$volume" >/dev/null \
    || die "could not attach $volume through the hub container $hub: is the hub running (docker compose up -d hub)?"
}

home_close() {
  local volume="$1" hub="$2"
  is_sized "$volume" || return 0
  docker exec "$hub" python3 -m gluonlab_hub.homes close "$volume" >/dev/null \
    || printf 'export-homes: could not release %s (harmless: freed at the next start)\n' "$volume" >&2
}

main() {
  local instance="${GLUONLAB_INSTANCE:-gluonlab}" image="gluonlab/notebook:cpu" out=""
  while (($#)); do
    case "$1" in
      --help|-h) usage; exit 0 ;;
      --instance) instance="${2:?--instance needs a name}"; shift ;;
      --image) image="${2:?--image needs an image}"; shift ;;
      -*) die "unknown option '$1' (see --help)" ;;
      *) out="$1" ;;
    esac
    shift
  done
  [[ -n "$out" ]] || die "name the folder to write to, e.g. scripts/export-homes.sh ./homes (see --help)"
  docker image inspect "$image" >/dev/null 2>&1 || die "image '$image' not found; pass --image with your notebook image"
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  local prefix="${instance}-home-" volume user count=0
  while IFS= read -r volume; do
    [[ "$volume" == "$prefix"* ]] || continue
    user="${volume#"$prefix"}"
    if [[ -e "$out/$user.tar.gz" ]]; then
      printf 'export-homes: %s.tar.gz exists, left as is\n' "$user" >&2
      continue
    fi
    export_one "$image" "$volume" "$out/$user.tar.gz" "${instance}-hub-1"
    count=$((count + 1))
  done < <(docker volume ls --quiet --filter "name=$prefix")
  printf 'export-homes: %d home(s) written to %s\n' "$count" "$out"
}

main "$@"
