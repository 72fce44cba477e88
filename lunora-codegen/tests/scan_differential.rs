//! The fast scanner against a reference walk over `syn::parse_file`, on generated crates:
//! module trees of inline and file modules (`name.rs`, `name/mod.rs`, `#[path]`, raw
//! identifiers), items in any order (structs, impls, traits, block consts, extern blocks,
//! macro_rules, fn bodies with braces in strings), cfgs on items and modules, and lunora's
//! attributes in every spelling beside other crates' look-alikes. Both must find the same
//! workflows and steps, in the same modules, under the same cfgs, and read the same files.

use std::path::{Path, PathBuf};

use lunora_codegen::naming;
use lunora_codegen::scan::scan_crate;
use proptest::prelude::*;

const CFGS: &[&str] = &["test", "feature = \"a\"", "unix", "not(feature = \"b\")"];
const NAMES: &[&str] = &["alpha", "beta", "r#async", "r#type", "gamma"];
const WORKFLOW_FORMS: &[&str] = &["workflow", "lunora_runtime::workflow", "::lunora_runtime::workflow", "wf"];
const STEP_FORMS: &[&str] = &["step", "lunora_macros::step", "st"];

#[derive(Debug, Clone)]
enum Item {
    /// One of the braced (or otherwise distracting) items that are not modules.
    Other(usize),
    Workflow {
        form: usize,
        cfg: Option<usize>,
    },
    Step {
        form: usize,
        cfg: Option<usize>,
    },
    Module(Module),
}

#[derive(Debug, Clone)]
struct Module {
    name: usize,
    /// 0: inline, 1: `name.rs`, 2: `name/mod.rs`, 3: `#[path]`.
    kind: u8,
    cfg: Option<usize>,
    /// The `use` items go first, or last.
    uses_last: bool,
    items: Vec<Item>,
}

fn item() -> impl Strategy<Value = Item> {
    let leaf = prop_oneof![
        (0..10usize).prop_map(Item::Other),
        (0..WORKFLOW_FORMS.len(), proptest::option::of(0..CFGS.len()))
            .prop_map(|(form, cfg)| Item::Workflow { form, cfg }),
        (0..STEP_FORMS.len(), proptest::option::of(0..CFGS.len())).prop_map(|(form, cfg)| Item::Step { form, cfg }),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        (0..NAMES.len(), 0..4u8, proptest::option::of(0..CFGS.len()), any::<bool>(), prop::collection::vec(inner, 0..5))
            .prop_map(|(name, kind, cfg, uses_last, items)| Item::Module(Module { name, kind, cfg, uses_last, items }))
    })
}

/// Where a module's `mod x;` files go, as rustc finds them: the module directory, and for a
/// file named `x.rs`, the `x/` below it.
#[derive(Clone)]
struct Dirs {
    dir: PathBuf,
    relative: Option<String>,
}

impl Dirs {
    fn children(&self) -> PathBuf {
        match &self.relative {
            Some(r) => self.dir.join(r),
            None => self.dir.clone(),
        }
    }
}

struct Writer {
    root: PathBuf,
    counter: usize,
}

fn unraw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

impl Writer {
    fn next(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    fn other(&mut self, which: usize) -> String {
        let n = self.next();
        match which {
            0 => format!("pub struct S{n} {{ pub a: u8, pub b: (u8, [u8; 2]) }}\n"),
            1 => format!("impl S{n} {{ pub fn f(&self) -> u8 {{ if self.a > 0 {{ 1 }} else {{ 2 }} }} }}\n"),
            2 => format!("pub trait T{n} {{ fn g(&self) {{ let _ = \"mod fake; }}\"; }} }}\n"),
            3 => format!("const C{n}: u8 = {{ let x = {{ 1 }}; x }};\n"),
            4 => format!("extern \"C\" {{ fn ext{n}(); }}\n"),
            5 => format!("macro_rules! m{n} {{ () => {{ {{ }} }}; }}\n"),
            6 => format!("pub fn plain{n}() {{ let _s = \"}}\"; let _c = '{{'; /* }} */ }}\n"),
            7 => format!("#[derive(Debug)]\npub enum E{n} {{ A {{ x: u8 }}, B }}\n"),
            8 => format!("#[cucumber::step(expr = \"x\")]\npub fn given{n}(w: &mut W) {{ let _ = w; }}\n"),
            _ => format!("#[instrument]\npub fn traced{n}() {{}}\n"),
        }
    }

    /// The text of a module's body; writes its file modules.
    fn body(&mut self, items: &[Item], uses_last: bool, dirs: &Dirs) -> String {
        let uses =
            "use lunora_runtime::*;\nuse lunora_runtime::{workflow as wf, step as st};\nuse tracing::instrument;\n";
        let mut text = String::new();
        if !uses_last {
            text.push_str(uses);
        }
        for item in items {
            match item {
                Item::Other(which) => text.push_str(&self.other(*which)),
                Item::Workflow { form, cfg } => {
                    let n = self.next();
                    let cfg = cfg.map(|c| format!("#[cfg({})]\n", CFGS[c])).unwrap_or_default();
                    text.push_str(&format!(
                        "{cfg}#[{}]\npub async fn flow_{n}(ctx: WorkflowContext<()>) -> Result<()> {{ let _ = ctx; Ok(()) }}\n",
                        WORKFLOW_FORMS[*form]
                    ));
                }
                Item::Step { form, cfg } => {
                    let n = self.next();
                    let cfg = cfg.map(|c| format!("#[cfg({})]\n", CFGS[c])).unwrap_or_default();
                    text.push_str(&format!(
                        "#[{}(args = String, returns = String)]\n{cfg}pub async fn step_{n}(ctx: StepContext, args: String) -> Result<String> {{ Ok(args) }}\n",
                        STEP_FORMS[*form]
                    ));
                }
                Item::Module(m) => text.push_str(&self.module(m, dirs)),
            }
        }
        if uses_last {
            text.push_str(uses);
        }
        text
    }

    /// The module's declaration; its file if it has one.
    fn module(&mut self, m: &Module, dirs: &Dirs) -> String {
        // Unique names: a number after the chosen one (raw names stay raw).
        let name = format!("{}_{}", NAMES[m.name], self.next());
        let cfg = m.cfg.map(|c| format!("#[cfg({})]\n", CFGS[c])).unwrap_or_default();
        let plain = unraw(&name).to_owned();
        match m.kind {
            0 => {
                let inner = Dirs { dir: dirs.children().join(&plain), relative: None };
                format!("{cfg}pub mod {name} {{\n{}}}\n", self.body(&m.items, m.uses_last, &inner))
            }
            1 => {
                let file = dirs.children().join(format!("{plain}.rs"));
                let inner = Dirs { dir: dirs.children(), relative: Some(plain) };
                let text = self.body(&m.items, m.uses_last, &inner);
                write(&file, &text);
                format!("{cfg}pub mod {name};\n")
            }
            2 => {
                let file = dirs.children().join(&plain).join("mod.rs");
                let inner = Dirs { dir: dirs.children().join(&plain), relative: None };
                let text = self.body(&m.items, m.uses_last, &inner);
                write(&file, &text);
                format!("{cfg}pub mod {name};\n")
            }
            _ => {
                // Relative to the module directory (not `x/` for a file `x.rs`).
                let relative = format!("p/{plain}_file.rs");
                let file = dirs.dir.join(&relative);
                let inner = Dirs { dir: file.parent().unwrap().to_path_buf(), relative: None };
                let text = self.body(&m.items, m.uses_last, &inner);
                write(&file, &text);
                format!("{cfg}#[path = \"{relative}\"]\npub mod {name};\n")
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// What both walks report.
#[derive(Debug, Default, PartialEq, Eq)]
struct Found {
    /// `descriptor path | cfg | file:line`.
    workflows: Vec<String>,
    /// `name | file:line`.
    steps: Vec<String>,
    files: Vec<PathBuf>,
}

/// The reference: syn's full parse of every file, modules resolved by rustc's rules.
struct Reference<'a> {
    base: &'a Path,
    found: Found,
}

fn cfgs_of(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .map(|a| a.meta.require_list().unwrap().tokens.to_string())
        .collect()
}

fn combined(cfgs: &[String]) -> String {
    match cfgs {
        [] => "-".into(),
        [one] => one.clone(),
        all => format!("all({})", all.join(", ")),
    }
}

fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    format!("{}{}", if path.leading_colon.is_some() { "::" } else { "" }, segments.join("::"))
}

impl Reference<'_> {
    fn file(&mut self, file: &Path, module: &[String], dirs: &Dirs, cfgs: &[String]) {
        self.found.files.push(file.to_path_buf());
        let parsed = syn::parse_file(&std::fs::read_to_string(file).unwrap()).unwrap();
        self.items(&parsed.items, file, module, dirs, cfgs);
    }

    fn items(&mut self, items: &[syn::Item], file: &Path, module: &[String], dirs: &Dirs, cfgs: &[String]) {
        let shown = file.strip_prefix(self.base).unwrap().display().to_string();
        for item in items {
            match item {
                syn::Item::Fn(f) => {
                    for attr in &f.attrs {
                        let path = path_text(attr.path());
                        let start = attr.pound_token.span.start();
                        let line = format!("{}:{}", start.line, start.column + 1);
                        let mut all = cfgs.to_vec();
                        all.extend(cfgs_of(&f.attrs));
                        if WORKFLOW_FORMS.contains(&path.as_str()) {
                            let class =
                                naming::workflow_class_name(&naming::export_name_of_fn(&f.sig.ident.to_string()));
                            let mut descriptor = module.to_vec();
                            descriptor.push(class);
                            self.found.workflows.push(format!(
                                "{} | {} | {shown}:{line}",
                                descriptor.join("::"),
                                combined(&all)
                            ));
                        } else if STEP_FORMS.contains(&path.as_str()) {
                            self.found.steps.push(format!("{} | {shown}:{line}", f.sig.ident));
                        }
                    }
                }
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let plain = unraw(&name).to_owned();
                    let mut child = module.to_vec();
                    child.push(name.clone());
                    let mut all = cfgs.to_vec();
                    all.extend(cfgs_of(&m.attrs));
                    let explicit = m.attrs.iter().find(|a| a.path().is_ident("path")).map(|a| {
                        let syn::Meta::NameValue(nv) = &a.meta else { panic!() };
                        let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value else { panic!() };
                        s.value()
                    });
                    match (&m.content, explicit) {
                        (Some((_, items)), None) => {
                            let inner = Dirs { dir: dirs.children().join(&plain), relative: None };
                            self.items(items, file, &child, &inner, &all);
                        }
                        (None, Some(p)) => {
                            let path = dirs.dir.join(p);
                            let inner = Dirs { dir: path.parent().unwrap().to_path_buf(), relative: None };
                            self.file(&path, &child, &inner, &all);
                        }
                        (None, None) => {
                            let plain_file = dirs.children().join(format!("{plain}.rs"));
                            if plain_file.is_file() {
                                let inner = Dirs { dir: dirs.children(), relative: Some(plain) };
                                self.file(&plain_file, &child, &inner, &all);
                            } else {
                                let inner = Dirs { dir: dirs.children().join(&plain), relative: None };
                                self.file(&inner.dir.join("mod.rs"), &child, &inner, &all);
                            }
                        }
                        (Some(_), Some(_)) => unreachable!("not generated"),
                    }
                }
                _ => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_scanner_finds_what_a_full_parse_finds(items in prop::collection::vec(item(), 0..7), uses_last in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let mut writer = Writer { root: src.clone(), counter: 0 };
        let root_dirs = Dirs { dir: writer.root.clone(), relative: None };
        let lib = writer.body(&items, uses_last, &root_dirs);
        write(&src.join("lib.rs"), &lib);

        let mut reference = Reference { base: dir.path(), found: Found::default() };
        reference.file(&src.join("lib.rs"), &[], &root_dirs, &[]);
        let expected = reference.found;

        let scan = scan_crate(&src.join("lib.rs"), dir.path())
            .unwrap_or_else(|e| panic!("{}\n{lib}", e.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")));
        let actual = Found {
            workflows: scan
                .workflows
                .iter()
                .map(|w| format!("{} | {} | {}", w.descriptor_path, w.cfg.as_deref().unwrap_or("-"), w.location))
                .collect(),
            steps: scan.steps.iter().map(|(name, at)| format!("{name} | {at}")).collect(),
            files: scan.files.clone(),
        };
        prop_assert_eq!(actual, expected, "lib.rs:\n{}", lib);
    }
}
