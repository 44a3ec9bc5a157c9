# The hub's image: one image for the API, the Faust worker and the relay (the command differs).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements requirements
COPY hub hub
COPY aggregates aggregates
COPY projections projections
COPY orchestration_policies orchestration_policies
COPY connectors connectors
COPY schemas schemas
# Exact versions and hashes from the lock (scripts/lock.sh), then the project without its deps.
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.txt \
 && pip install --no-cache-dir --no-deps --no-build-isolation .
ENV ORDERHUB_API_HOST=0.0.0.0 ORDERHUB_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["orderhub"]
CMD ["serve"]
