//! The declaration macros: [`declare_keys!`](crate::declare_keys) and
//! [`declare_loss!`](crate::declare_loss).

/// Declares a group of keys shared by several losses (see the [module docs](crate::declare)).
#[macro_export]
macro_rules! declare_keys {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:expr $(, check $check:expr)? $(, examples [$($ex:expr),* $(,)?])? ;
            )*
            $( .. $gfield:ident : $gty:ty ; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            $(
                /// Keys of an embedded group.
                pub $gfield: $gty,
            )*
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* $( $gfield: ::std::default::Default::default(), )* }
            }
        }

        impl $crate::declare::KeyGroup for $name {
            fn key_infos(out: &mut ::std::vec::Vec<$crate::params::KeyInfo>) {
                let d = <Self as ::std::default::Default>::default();
                $(
                    out.push($crate::params::KeyInfo {
                        key: stringify!($field),
                        default: $crate::declare::KeyValue::default_text(&d.$field),
                        value: $crate::declare::KeyValue::to_value(&d.$field),
                        doc: $crate::declare::join_doc(&[$($doc),*]),
                        examples: {
                            let mut v: ::std::vec::Vec<$ty> = <$ty as $crate::declare::KeyValue>::examples();
                            $( $( v.push($ex); )* )?
                            v.iter().map($crate::declare::KeyValue::to_value).collect()
                        },
                    });
                )*
                let _ = d;
                $( <$gty as $crate::declare::KeyGroup>::key_infos(out); )*
            }
            fn read(&mut self, p: &mut $crate::params::Params) -> $crate::Result<()> {
                $(
                    if let Some(v) = p.take_value(stringify!($field)) {
                        self.$field = <$ty as $crate::declare::KeyValue>::from_value(stringify!($field), &v)?;
                    }
                )*
                $( $crate::declare::KeyGroup::read(&mut self.$gfield, p)?; )*
                let _ = p;
                Ok(())
            }
            fn write(&self, out: &mut ::std::vec::Vec<(::std::string::String, $crate::params::Value)>) {
                let d = <Self as ::std::default::Default>::default();
                $(
                    if self.$field != d.$field {
                        out.push((stringify!($field).into(), $crate::declare::KeyValue::to_value(&self.$field)));
                    }
                )*
                let _ = d;
                $( $crate::declare::KeyGroup::write(&self.$gfield, out); )*
                let _ = out;
            }
            fn check_keys(&self) -> $crate::Result<()> {
                $( $( ($check)(stringify!($field), &self.$field)?; )? )*
                $( $crate::declare::KeyGroup::check_keys(&self.$gfield)?; )*
                Ok(())
            }
        }
    };
}

/// Declares a loss's config and its registry entry (see the [module docs](crate::declare)). Every loss
/// also gets the `mode` key (`None`: inferred from the shapes), checked against `modes`.
/// `..field: Group;` embeds a group of keys declared with [`declare_keys!`](crate::declare_keys).
/// The loss file writes an inherent `build(&self) -> Result<L>` whose `L: Loss`.
#[macro_export]
macro_rules! declare_loss {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            name: $lname:literal,
            family: $family:literal,
            modes: [$($mode:ident),+ $(,)?],
            weight: $weight:expr,
            formula: $formula:literal,
            anchor: $anchor:literal,
            aliases: [$($alias:expr),* $(,)?],
            keys: {
                $(
                    $(#[doc = $doc:literal])*
                    $field:ident : $ty:ty = $default:expr $(, check $check:expr)? $(, examples [$($ex:expr),* $(,)?])? ;
                )*
                $( .. $gfield:ident : $gty:ty ; )*
            }
        }
    ) => {
        $(#[$meta])*
        ///
        /// Every key, its default and its check are listed in `docs/LOSSES.md` and by
        /// `segloss list`, both generated from this declaration.
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            $(
                /// Keys shared with other losses of the family.
                pub $gfield: $gty,
            )*
            /// `mode`: binary, multiclass or multilabel, as the loss allows (`None`: inferred
            /// from the shapes).
            pub mode: ::std::option::Option<$crate::Mode>,
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                $name {
                    $( $field: $default, )*
                    $( $gfield: ::std::default::Default::default(), )*
                    mode: None,
                }
            }
        }

        impl $crate::declare::KeyGroup for $name {
            fn key_infos(out: &mut ::std::vec::Vec<$crate::params::KeyInfo>) {
                let d = <Self as ::std::default::Default>::default();
                $(
                    out.push($crate::params::KeyInfo {
                        key: stringify!($field),
                        default: $crate::declare::KeyValue::default_text(&d.$field),
                        value: $crate::declare::KeyValue::to_value(&d.$field),
                        doc: $crate::declare::join_doc(&[$($doc),*]),
                        examples: {
                            let mut v: ::std::vec::Vec<$ty> = <$ty as $crate::declare::KeyValue>::examples();
                            $( $( v.push($ex); )* )?
                            v.iter().map($crate::declare::KeyValue::to_value).collect()
                        },
                    });
                )*
                $( <$gty as $crate::declare::KeyGroup>::key_infos(out); )*
                out.push($crate::params::mode_key(Self::DECL.modes));
            }
            fn read(&mut self, p: &mut $crate::params::Params) -> $crate::Result<()> {
                $(
                    if let Some(v) = p.take_value(stringify!($field)) {
                        self.$field = <$ty as $crate::declare::KeyValue>::from_value(stringify!($field), &v)?;
                    }
                )*
                $( $crate::declare::KeyGroup::read(&mut self.$gfield, p)?; )*
                if let Some(v) = p.take_value("mode") {
                    self.mode = Some(<$crate::Mode as $crate::declare::KeyValue>::from_value("mode", &v)?);
                }
                Ok(())
            }
            fn write(&self, out: &mut ::std::vec::Vec<(::std::string::String, $crate::params::Value)>) {
                let d = <Self as ::std::default::Default>::default();
                $(
                    if self.$field != d.$field {
                        out.push((stringify!($field).into(), $crate::declare::KeyValue::to_value(&self.$field)));
                    }
                )*
                $( $crate::declare::KeyGroup::write(&self.$gfield, out); )*
                if let Some(m) = self.mode {
                    out.push(("mode".into(), $crate::declare::KeyValue::to_value(&m)));
                }
            }
            fn check_keys(&self) -> $crate::Result<()> {
                $( $( ($check)(stringify!($field), &self.$field)?; )? )*
                $( $crate::declare::KeyGroup::check_keys(&self.$gfield)?; )*
                $crate::params::check_mode($lname, self.mode, Self::DECL.modes)
            }
        }

        impl $crate::declare::LossConfig for $name {
            const DECL: $crate::declare::LossDecl = $crate::declare::LossDecl {
                name: $lname,
                family: $family,
                config: stringify!($name),
                modes: &[$($crate::Mode::$mode),+],
                weight: $weight,
                formula: $formula,
                anchor: $anchor,
                aliases: &[$($alias),*],
                keys: $name::__key_table,
                build: $crate::declare::build_params::<$name>,
                canonical: $crate::declare::canonical_params::<$name>,
            };
            fn build_boxed(&self) -> $crate::Result<::std::boxed::Box<dyn $crate::Loss>> {
                Ok(::std::boxed::Box::new(self.build()?))
            }
        }

        impl $name {
            /// The registry entry of this loss.
            pub const DECL: $crate::declare::LossDecl = <$name as $crate::declare::LossConfig>::DECL;

            /// Runs every per-key check of the declaration (ranges, finiteness, the mode).
            pub fn check_keys(&self) -> $crate::Result<()> {
                <Self as $crate::declare::KeyGroup>::check_keys(self)
            }

            /// The spec string of this config (`name` alone when every key is at its default).
            pub fn to_spec(&self) -> ::std::string::String {
                <Self as $crate::declare::LossConfig>::to_spec(self)
            }

            #[doc(hidden)]
            pub fn __key_table() -> &'static [$crate::params::KeyInfo] {
                static KEYS: ::std::sync::OnceLock<::std::vec::Vec<$crate::params::KeyInfo>> = ::std::sync::OnceLock::new();
                KEYS.get_or_init(|| {
                    let mut v = ::std::vec::Vec::new();
                    <$name as $crate::declare::KeyGroup>::key_infos(&mut v);
                    v
                })
            }
        }
    };
}
