# Sourced by scripts/test.sh and scripts/demo.sh: create .venv and install depthal with the CPU pins, once.
# A stamp file keyed on pyproject.toml + constraints.txt skips the install when nothing changed.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=".venv/.depthal-installed"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[models,test]'
    echo "$want" > "$stamp"
fi
