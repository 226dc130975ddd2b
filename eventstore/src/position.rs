use std::fmt;
use std::str::FromStr;

/// A place in the global order (`$all`): the writing transaction's id, then the event's
/// sequence number. Like EventStoreDB's (commit, prepare) pair; opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub tx_id: i64,
    pub seq: i64,
}

impl Position {
    /// Before the first event.
    pub const START: Position = Position { tx_id: 0, seq: 0 };
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tx_id, self.seq)
    }
}

/// A cursor string that is not a position.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an event position")]
pub struct BadPosition(pub String);

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPosition(s.to_owned());
        let (tx, seq) = s.split_once('.').ok_or_else(bad)?;
        let tx_id: i64 = tx.parse().map_err(|_| bad())?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        if tx_id < 0 || seq < 0 {
            return Err(bad());
        }
        Ok(Position { tx_id, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_cursor_string() {
        let p = Position {
            tx_id: 7421,
            seq: 99,
        };
        assert_eq!(p.to_string().parse::<Position>(), Ok(p));
        assert_eq!("0.0".parse::<Position>(), Ok(Position::START));
        for bad in ["", "1", "a.b", "1.-2", "-1.2", "1.2.3"] {
            assert!(bad.parse::<Position>().is_err(), "{bad}");
        }
    }

    #[test]
    fn positions_order_by_transaction_then_sequence() {
        let a = Position { tx_id: 5, seq: 100 };
        let b = Position { tx_id: 6, seq: 1 };
        assert!(a < b);
    }
}
