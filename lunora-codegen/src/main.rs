//! `lunora-codegen`: the command-line front of the codegen library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lunora_codegen::naming::WorkflowNames;

#[derive(Parser)]
#[command(name = "lunora-codegen", version, about = "Code generation for lunora workflows")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print, per export name, the class name, binding and default deployed name
    /// (tab-separated: export, class, binding, default name).
    Names {
        /// Workflow export names, e.g. orderPipeline.
        #[arg(required = true)]
        names: Vec<String>,
        /// Print a JSON array of objects instead.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Names { names, json } => {
            let all: Vec<WorkflowNames> = names.iter().map(|n| WorkflowNames::from_export_name(n)).collect();
            if let Some(bad) = names.iter().find(|n| n.is_empty()) {
                eprintln!("lunora-codegen names: an export name is empty ({bad:?}); pass names like orderPipeline");
                return ExitCode::FAILURE;
            }
            if json {
                let rows: Vec<serde_json::Value> = all
                    .iter()
                    .map(|n| {
                        serde_json::json!({
                            "exportName": n.export_name,
                            "className": n.class_name,
                            "binding": n.binding,
                            "defaultName": n.default_name,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).expect("plain JSON"));
            } else {
                for n in all {
                    println!("{}\t{}\t{}\t{}", n.export_name, n.class_name, n.binding, n.default_name);
                }
            }
            ExitCode::SUCCESS
        }
    }
}
