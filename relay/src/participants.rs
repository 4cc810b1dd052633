//! Who is attached to each live session now: the registry behind `ServerControl::
//! Participants`, `GET /sessions/{id}/participants` and `Session.watchers`.
//!
//! A session's stream joins it when its viewer attaches and holds the [`Presence`] it
//! gets; dropping it (on every way out of the stream) leaves. Each change is published to
//! the session's other streams through a watch channel, and to the Active Sessions feeds as
//! a session change. The registry is in memory: it describes this relay's streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{broadcast, watch};
use vigil_wire::live::Participant;
use vigil_wire::share::LiveParticipant;

use crate::state::SessionChanged;

/// The participants of every session with at least one.
#[derive(Default)]
struct Rooms {
    next_key: u64,
    rooms: HashMap<String, Room>,
}

struct Room {
    members: Vec<(u64, LiveParticipant)>,
    /// The members as last published (in the order they joined).
    tx: watch::Sender<Vec<LiveParticipant>>,
}

impl Room {
    fn publish(&self) {
        let list = self.members.iter().map(|(_, p)| p.clone()).collect();
        self.tx.send_replace(list);
    }
}

impl Rooms {
    fn join(
        &mut self,
        session: &str,
        who: LiveParticipant,
    ) -> (u64, watch::Receiver<Vec<LiveParticipant>>) {
        self.next_key += 1;
        let key = self.next_key;
        let room = self
            .rooms
            .entry(session.to_string())
            .or_insert_with(|| Room {
                members: Vec::new(),
                tx: watch::Sender::new(Vec::new()),
            });
        room.members.push((key, who));
        room.publish();
        (key, room.tx.subscribe())
    }

    fn leave(&mut self, session: &str, key: u64) {
        let Some(room) = self.rooms.get_mut(session) else {
            return;
        };
        room.members.retain(|(k, _)| *k != key);
        if room.members.is_empty() {
            self.rooms.remove(session);
        } else {
            room.publish();
        }
    }

    fn list(&self, session: &str) -> Vec<LiveParticipant> {
        self.rooms
            .get(session)
            .map(|r| r.members.iter().map(|(_, p)| p.clone()).collect())
            .unwrap_or_default()
    }

    fn watchers(&self, session: &str) -> u32 {
        self.rooms.get(session).map_or(0, |r| {
            let n = r
                .members
                .iter()
                .filter(|(_, p)| p.participant == Participant::Observer)
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        })
    }
}

/// The registry, shared by every stream of this relay.
pub struct Participants {
    rooms: Arc<Mutex<Rooms>>,
    changes: broadcast::Sender<SessionChanged>,
}

impl Participants {
    /// `changes` is told of every join and leave (the feeds re-read the session).
    pub fn new(changes: broadcast::Sender<SessionChanged>) -> Participants {
        Participants {
            rooms: Arc::default(),
            changes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        lock(&self.rooms)
    }

    /// `who` joins `session` until the returned [`Presence`] is dropped.
    pub fn join(&self, session: &str, who: LiveParticipant) -> Presence {
        let (key, updates) = self.lock().join(session, who);
        let _ = self.changes.send(SessionChanged(session.to_string()));
        Presence {
            rooms: self.rooms.clone(),
            changes: self.changes.clone(),
            session: session.to_string(),
            key,
            updates,
        }
    }

    /// The participants of `session` now, in the order they joined.
    pub fn list(&self, session: &str) -> Vec<LiveParticipant> {
        self.lock().list(session)
    }

    /// How many observers `session` has now.
    pub fn watchers(&self, session: &str) -> u32 {
        self.lock().watchers(session)
    }
}

fn lock(rooms: &Mutex<Rooms>) -> std::sync::MutexGuard<'_, Rooms> {
    // Every write leaves the map whole: what a panicking holder left is consistent.
    rooms.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One participant's place in a session; dropping it leaves.
pub struct Presence {
    rooms: Arc<Mutex<Rooms>>,
    changes: broadcast::Sender<SessionChanged>,
    session: String,
    key: u64,
    /// The session's participants, each time they change.
    pub updates: watch::Receiver<Vec<LiveParticipant>>,
}

impl Drop for Presence {
    fn drop(&mut self) {
        lock(&self.rooms).leave(&self.session, self.key);
        let _ = self.changes.send(SessionChanged(self.session.clone()));
    }
}

#[cfg(test)]
mod tests {
    use vigil_wire::share::JoinedVia;

    use super::*;

    fn who(name: &str, participant: Participant, via: JoinedVia) -> LiveParticipant {
        LiveParticipant {
            username: name.into(),
            display_name: name.to_uppercase(),
            participant,
            via,
            since: 1,
        }
    }

    #[test]
    fn joins_and_leaves_are_published_and_counted() {
        let (changes, mut heard) = broadcast::channel(16);
        let registry = Participants::new(changes);
        let alice = registry.join("s1", who("alice", Participant::User, JoinedVia::Owner));
        let rex = registry.join("s1", who("rex", Participant::Observer, JoinedVia::Role));
        let bob = registry.join("s1", who("bob", Participant::Observer, JoinedVia::Link));
        let other = registry.join("s2", who("eve", Participant::User, JoinedVia::Owner));
        assert_eq!(registry.watchers("s1"), 2, "the user is no watcher");
        assert_eq!(registry.watchers("s2"), 0);
        let names: Vec<String> = alice
            .updates
            .borrow()
            .iter()
            .map(|p| p.username.clone())
            .collect();
        assert_eq!(names, ["alice", "rex", "bob"]);
        drop(bob);
        assert_eq!(registry.watchers("s1"), 1);
        assert!(alice.updates.has_changed().unwrap_or(false));
        let names: Vec<String> = registry
            .list("s1")
            .iter()
            .map(|p| p.username.clone())
            .collect();
        assert_eq!(names, ["alice", "rex"]);
        drop((alice, rex, other));
        assert!(registry.list("s1").is_empty());
        assert!(
            registry.lock().rooms.is_empty(),
            "an empty session leaves no room behind"
        );
        let mut told = 0;
        while heard.try_recv().is_ok() {
            told += 1;
        }
        assert_eq!(told, 8, "every join and leave is a session change");
    }
}
