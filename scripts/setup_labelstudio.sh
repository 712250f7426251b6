# Sourced by scripts/test.sh: Label Studio for tests/labelstudio/ in its own virtualenv, `.venv-labelstudio`, once.
# It pins Django, numpy and pyarrow versions that clash with depthal's environment, so it never shares `.venv`;
# depthal itself only talks to it over HTTP. A stamp keyed on the pinned version skips the install (≈ 3 min, ≈ 1 GB)
# when nothing changed. Override the pin with DEPTHAL_LABEL_STUDIO_VERSION.
label_studio_version="${DEPTHAL_LABEL_STUDIO_VERSION:-1.23.2}"
if [ ! -x .venv-labelstudio/bin/python ]; then
    python3 -m venv .venv-labelstudio
fi
ls_stamp=".venv-labelstudio/.depthal-installed"
if [ "$(cat "$ls_stamp" 2>/dev/null)" != "$label_studio_version" ]; then
    .venv-labelstudio/bin/python -m pip install --quiet --upgrade pip
    .venv-labelstudio/bin/python -m pip install --quiet "label-studio==$label_studio_version"
    echo "$label_studio_version" > "$ls_stamp"
fi
