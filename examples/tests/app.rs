//! The README application answers on its port and stops cleanly, on tokio and on smol.

use std::net::TcpStream;

use async_io::Async;
use futures_lite::AsyncReadExt;
use mode::runtime::Timer;
use mode::{State, StopReason, Tree};
use mode_examples::app::{App, BoundAddr};

/// Runs the tree, connects twice, stops it; checks the replies and the final states.
async fn exercise<T: Timer>(tree: Tree<T>, bound: BoundAddr) {
    let root = tree.handle();
    let client = async {
        root.wait_until_running().await.unwrap();
        let addr = bound.lock().unwrap().expect("bound");
        let mut lines = Vec::new();
        for _ in 0..2 {
            let mut stream = Async::<TcpStream>::connect(addr).await.unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            lines.push(reply);
        }
        root.stop().await;
        lines
    };
    let (exit, lines) = futures_lite::future::zip(tree.run(), client).await;
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert!(lines[0].contains("you are visitor 1;"), "{lines:?}");
    assert!(lines[1].contains("you are visitor 2;"), "{lines:?}");
    assert!(root.children().iter().all(|c| c.state() == State::Stopped));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_tokio() {
    let app = App::new(0);
    let bound = app.bound_addr();
    exercise(mode::tokio::tree(app), bound).await;
}

#[test]
fn on_smol() {
    let app = App::new(0);
    let bound = app.bound_addr();
    futures_lite::future::block_on(exercise(mode::smol::tree(app), bound));
}
