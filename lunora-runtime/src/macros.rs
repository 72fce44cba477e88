//! The `macro_rules!` that `#[workflow]`'s expansion calls, as
//! `lunora_runtime::__private::workflow_runner!`. Not a public API.

/// `workflow_runner!(module, Runner, Descriptor, "doc")`: the wasm32 runner class of a
/// `#[workflow]` descriptor, which the JS `WorkflowEntrypoint` delegates to. A class and not a
/// free function: worker-build would attach an exported function to the Worker's default
/// entrypoint (an RPC method), while an exported class stays a named module export.
///
/// `#[workflow]` emits the call under `#[cfg(target_arch = "wasm32")]`, so other targets drop it
/// unexpanded and pay for a few tokens rather than for the class. In a module of its own
/// because, besides the explicit path, wasm-bindgen 0.2.130's struct derive names
/// `wasm_bindgen::…` by a relative path, which the `use` below resolves: the user never depends
/// on wasm-bindgen.
#[doc(hidden)]
#[macro_export]
macro_rules! __lunora_workflow_runner {
    ($module:ident, $runner:ident, $descriptor:ident, $doc:tt) => {
        #[doc(hidden)]
        // A declared class may start in lower case (`#[workflow(class = "legacyFlow")]`).
        #[allow(non_camel_case_types)]
        mod $module {
            use ::lunora_runtime::__private::wasm_bindgen;
            use ::lunora_runtime::__private::wasm_bindgen::prelude::wasm_bindgen;

            #[doc = $doc]
            #[wasm_bindgen(wasm_bindgen = ::lunora_runtime::__private::wasm_bindgen)]
            pub struct $runner {
                env: wasm_bindgen::JsValue,
            }

            #[wasm_bindgen(wasm_bindgen = ::lunora_runtime::__private::wasm_bindgen)]
            impl $runner {
                #[wasm_bindgen(constructor)]
                pub fn new(_ctx: wasm_bindgen::JsValue, env: wasm_bindgen::JsValue) -> $runner {
                    $runner { env }
                }

                pub fn run(
                    &self,
                    event: wasm_bindgen::JsValue,
                    step: wasm_bindgen::JsValue,
                ) -> ::lunora_runtime::__private::js_sys::Promise {
                    ::lunora_runtime::__private::run_workflow::<super::$descriptor>(
                        ::core::clone::Clone::clone(&self.env),
                        event,
                        step,
                    )
                }
            }
        }
    };
}
