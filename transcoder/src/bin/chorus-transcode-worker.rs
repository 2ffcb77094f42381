//! Stand-alone transcode worker, for tests and benchmarks; the daemon uses
//! `chorus transcode-worker`, which runs the same [`chorus_transcoder::worker_main`].

fn main() {
    std::process::exit(chorus_transcoder::worker_main());
}
