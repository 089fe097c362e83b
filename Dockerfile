# tmgt with the pinned apr. Not built in this project's CI (no Docker engine there); kept
# minimal: the same two steps the README runs.
FROM rust:1.95-bookworm
WORKDIR /tmgt
COPY . .
RUN scripts/setup \
 && cargo build --release --locked -p tmgt-runner \
 && install -m 0755 target/release/tmgt /usr/local/bin/tmgt
ENTRYPOINT ["tmgt"]
CMD ["run"]
