#!/usr/bin/env bash
# Debian packages the tests and benchmarks drive: real registry clients and the Go reference
# registry. Installs only what is missing, so a prepared machine does not touch the network.
set -euo pipefail
needed=()
command -v skopeo >/dev/null || needed+=(skopeo)
command -v umoci >/dev/null || needed+=(umoci)
command -v docker-registry >/dev/null || needed+=(docker-registry)
command -v wrk >/dev/null || needed+=(wrk)
command -v curl >/dev/null || needed+=(curl)
# Access control: a private OpenLDAP server, xmlsec1 for SAML signatures, and the real clients
# that log in (docker with its own dockerd, podman, containerd's ctr).
command -v slapd >/dev/null || needed+=(slapd)
command -v ldapadd >/dev/null || needed+=(ldap-utils)
command -v xmlsec1 >/dev/null || needed+=(xmlsec1)
command -v dockerd >/dev/null || needed+=(docker.io)
command -v podman >/dev/null || needed+=(podman)
# The dashboard's browser tests and screenshots: Debian's chromium, driven by Playwright
# (Playwright's own browser download cannot run here), and a font for readable pages.
command -v chromium >/dev/null || needed+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || needed+=(fonts-dejavu-core)
if [ ${#needed[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${needed[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}"
