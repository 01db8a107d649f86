# A home.activation snippet: restart a user service when the user's systemd runs (on a
# switch), and leave it to default.target otherwise (at login).
{ systemctl }:
unit: ''
  state=$(${systemctl} --user is-system-running 2>&1 || true)
  if [ "$state" = running ] || [ "$state" = degraded ]; then
    ${systemctl} --user restart ${unit}
  fi
  unset state
''
