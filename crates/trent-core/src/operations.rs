//! The operation list of a dialect, written once: [`operations!`](crate::operations) turns one
//! table of (wire name, handler, whether it may block) into the dialect's operation enum, its
//! name lookup both ways, and the dispatch to the handlers. Each dialect supplies its own
//! `run` adapter (decoding its request shape, encoding its response); the table shape and the
//! generated API are the same for every dialect.

/// Declares a dialect's operations.
///
/// ```ignore
/// trent_core::operations! {
///     /// The operations Trent serves, by their `X-Amz-Target` name.
///     Operation;
///     fn dispatch(ctx: &Ctx<'_>, body: &[u8]) -> Res<Vec<u8>> => run;
///     CreateKey => create_key, true;
///     DescribeKey => describe_key, false;
/// }
/// ```
///
/// The boolean says whether the operation may block its thread (it writes to the store, and so
/// may wait for an fsync, or generates a key pair); the server runs those on the blocking pool.
#[macro_export]
macro_rules! operations {
    (
        $(#[$meta:meta])*
        $enum:ident;
        fn dispatch($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty => $run:ident;
        $($name:ident => $handler:path, $writes:literal;)+
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $enum { $($name),+ }

        impl $enum {
            pub const ALL: &'static [$enum] = &[$(Self::$name),+];

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $(stringify!($name) => Some(Self::$name),)+ _ => None }
            }

            pub fn name(self) -> &'static str {
                match self { $(Self::$name => stringify!($name)),+ }
            }

            /// Whether the operation may block its thread (a store write, a key pair).
            pub fn writes(self) -> bool {
                match self { $(Self::$name => $writes),+ }
            }
        }

        /// Runs the operation's handler through the dialect's `run` adapter, which takes the
        /// handler and the dispatch arguments as one tuple.
        pub fn dispatch(op: $enum, $($arg: $ty),*) -> $ret {
            let args = ($($arg,)*);
            match op { $($enum::$name => $run($handler, args),)+ }
        }
    };
}
