//! Packer target: the runner AMI's template, provision script, systemd unit and helpers.

use minijinja::{Environment, context};

use super::File;
use crate::model::Fleet;

pub fn render(fleet: &Fleet, env: &Environment) -> Result<Vec<(String, File)>, minijinja::Error> {
    let _ = fleet;
    let hcl = env.get_template("packer/gitlab-runner.pkr.hcl.j2")?.render(context! {})?;
    Ok(vec![("packer/gitlab-runner.pkr.hcl".to_owned(), File { contents: hcl, executable: false })])
}
