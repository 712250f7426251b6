# The API (and the migration step): CPU only. The API never imports torch, but the package depends on it, so the
# small CPU wheel is installed first and the constraints keep pip from pulling a CUDA build.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 torchvision==0.28.0
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY migrations ./migrations
COPY service ./service
COPY worker ./worker
COPY models ./models
RUN pip install -c constraints.txt .
RUN useradd --create-home depthal && mkdir -p /data && chown depthal /data
USER depthal
EXPOSE 8000
CMD ["depthal", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
