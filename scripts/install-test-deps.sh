#!/usr/bin/env bash
# install-test-deps.sh: install the Debian packages the end-to-end tests need
# (php-fpm with SQLite for examples/php, nginx for examples/nginx, Chromium and
# its driver for the browser test, redis-server and redis-sentinel for the
# shared-store tests),
# only when they are missing.
#
# Idempotent: a machine that has everything is left alone, without touching the
# network. apt-get update runs at most once, and only when something is absent.
# Needs root (or passwordless sudo) on Debian/Ubuntu.
set -euo pipefail

packages=(php-fpm php-sqlite3 php-cli sqlite3 nginx chromium chromium-driver redis-server redis-sentinel)

# is_installed PKG: true when dpkg knows PKG as fully installed. Virtual or
# meta packages (php-fpm → php8.2-fpm) are installed packages too.
is_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${packages[@]}"; do
	is_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-test-deps: all present (${packages[*]})"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: missing ${missing[*]} and this is not a Debian-like system: install them by hand" >&2
	exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo -n)
	else
		echo "install-test-deps: missing ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
# The tests start their own php-fpm and nginx on loopback ports and temp
# sockets, so a service Debian may start on install does not get in the way.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-deps: done"
