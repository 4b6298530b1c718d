//! The engine task's side of the CTI connections: one bounded queue per desktop. A
//! desktop that falls behind is disconnected instead of slowing the engine.

use std::collections::HashMap;
use std::sync::Arc;

use engine::{Input, Node};
use tokio::sync::mpsc;

use super::AdminRequest;
use crate::clock;
use crate::cti_server::DeskMsg;
use crate::metrics::Snapshot;

/// Each desktop's event queue, and what overflowing queues cost.
#[derive(Default)]
pub(super) struct DeskLinks {
    links: HashMap<engine::DeskId, mpsc::Sender<Arc<str>>>,
    dropped_events: u64,
    slow_disconnects: u64,
}

impl DeskLinks {
    pub(super) fn handle(&mut self, node: &mut Node, msg: DeskMsg, admin: &mpsc::Sender<AdminRequest>) {
        match msg {
            DeskMsg::Opened(desk, tx) => {
                self.links.insert(desk, tx);
            }
            DeskMsg::Closed(desk) => {
                self.links.remove(&desk);
                node.handle_input(Input::DeskClosed { at: clock::now(), desk });
            }
            // The process answers a reload; everything else is the engine's.
            DeskMsg::Request(desk, request) => match request.sorted() {
                cti::Sorted::Process(cti::ProcessRequest::ReloadConfig) => {
                    self.reload(desk, request.reference_id(), admin)
                }
                cti::Sorted::Desk(_) | cti::Sorted::Call(_) | cti::Sorted::Process(_) => {
                    node.handle_input(Input::Desk { at: clock::now(), desk, request: &request })
                }
            },
        }
    }

    /// RequestReloadConfig: the process re-reads the file; the answer comes back later.
    fn reload(&self, desk: engine::DeskId, reference_id: Option<u64>, admin: &mpsc::Sender<AdminRequest>) {
        let Some(link) = self.links.get(&desk).cloned() else { return };
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        if admin.try_send(AdminRequest::Reload(reply_tx)).is_err() {
            return;
        }
        tokio::spawn(async move {
            let event = match reply_rx.await {
                Ok(Ok(())) => cti::Event::EventConfigReloaded { reference_id },
                Ok(Err(text)) => cti::Event::EventError {
                    reference_id,
                    this_dn: None,
                    error_code: cti::ErrorCode::InvalidState,
                    error_message: text,
                },
                Err(_) => return,
            };
            let json: Arc<str> = serde_json::to_string(&event).unwrap_or_default().into();
            let _ = link.send(json).await;
        });
    }

    /// Sends the node's desk events; a desktop whose queue is full is dropped.
    pub(super) fn flush(&mut self, node: &mut Node) {
        let mut slow = Vec::new();
        while let Some((desk, event)) = node.poll_desk() {
            let Some(link) = self.links.get(&desk) else { continue };
            let json: Arc<str> = serde_json::to_string(&event).unwrap_or_default().into();
            if link.try_send(json).is_err() {
                self.dropped_events += 1;
                slow.push(desk);
            }
        }
        for desk in slow {
            if self.links.remove(&desk).is_some() {
                self.slow_disconnects += 1;
                tracing::warn!(desk = desk.0, "CTI client too slow: event queue overflow, disconnecting");
                node.handle_input(Input::DeskClosed { at: clock::now(), desk });
            }
        }
    }

    /// Tells every desktop the site is stopping (an empty message is the close marker).
    #[allow(clippy::disallowed_methods)] // every desktop is told: the order does not matter
    pub(super) fn close_all(&mut self) {
        for link in self.links.values() {
            let _ = link.try_send(Arc::from(""));
        }
    }

    /// The figures `/metrics` shows of the node and the desktops.
    pub(super) fn snapshot(&self, node: &Node) -> Snapshot {
        Snapshot {
            stats: node.stats(),
            cti_clients: self.links.len() as u64,
            cti_dropped_events: self.dropped_events,
            cti_slow_disconnects: self.slow_disconnects,
            wake: Default::default(),
            store: Default::default(),
            peer_link: None,
            udp_kernel_drops: 0,
        }
    }
}
