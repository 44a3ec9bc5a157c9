# The hub's image: one image for the API, the Faust worker and the relay (the command differs).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub hub
COPY aggregates aggregates
COPY projections projections
COPY orchestration_policies orchestration_policies
COPY connectors connectors
COPY schemas schemas
RUN pip install --no-cache-dir .
ENV ORDERHUB_API_HOST=0.0.0.0 ORDERHUB_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["orderhub"]
CMD ["serve"]
