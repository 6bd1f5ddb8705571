//! The README application answers on its port and stops cleanly.

use std::io::Read;
use std::net::TcpStream;

use mode_core::{State, StopReason};
use mode_examples::app::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_answers_and_stops_in_order() {
    let app = App::new(0);
    let bound = app.bound_addr();
    tokio::task::LocalSet::new()
        .run_until(async move {
            let tree = mode_tokio::tree(app);
            let root = tree.handle();
            let client = async {
                root.wait_until_running().await.unwrap();
                let addr = bound.lock().unwrap().expect("bound");
                let lines = tokio::task::spawn_blocking(move || {
                    (0..2)
                        .map(|_| {
                            let mut reply = String::new();
                            TcpStream::connect(addr)
                                .unwrap()
                                .read_to_string(&mut reply)
                                .unwrap();
                            reply
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap();
                root.stop().await;
                lines
            };
            let (reason, lines) = futures_lite::future::zip(tree.run(), client).await;
            assert!(matches!(reason, StopReason::Requested), "{reason:?}");
            assert!(lines[0].contains("you are visitor 1;"), "{lines:?}");
            assert!(lines[1].contains("you are visitor 2;"), "{lines:?}");
            assert!(root.children().iter().all(|c| c.state() == State::Stopped));
        })
        .await;
}
