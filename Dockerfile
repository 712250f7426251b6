# The API (and the migration step): depthal without the `models` extra, so no torch (tests/cli/
# test_install_without_models.py installs it the same way). The worker image is Dockerfile.gpu.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY migrations ./migrations
COPY contracts ./contracts
COPY service ./service
COPY worker ./worker
COPY models ./models
COPY cli ./cli
RUN pip install .
RUN useradd --create-home depthal && mkdir -p /data && chown depthal /data
USER depthal
EXPOSE 8000
CMD ["depthal", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
