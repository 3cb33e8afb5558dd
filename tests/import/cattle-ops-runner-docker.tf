# The `module "runner"` block of examples/runner-docker/main.tf in cattle-ops/terraform-aws-gitlab-runner
# at tag 9.5.2, reproduced as a test fixture under its MIT licence (LICENSE-cattle-ops).

module "runner" {
  source = "../../"

  vpc_id      = module.vpc.vpc_id
  subnet_id   = element(module.vpc.public_subnets, 0)
  environment = var.environment

  runner_instance = {
    runner_use_eip = true
    name           = var.runner_name
  }

  runner_networking = {
    security_group_description = "Custom description for gitlab-runner"
  }

  runner_gitlab = {
    url = var.gitlab_url

    preregistered_runner_token_ssm_parameter_name = var.preregistered_runner_token_ssm_parameter_name
  }

  runner_worker = {
    type = "docker"
  }

  runner_worker_docker_machine_instance = {
    private_address_only = false
  }

  runner_worker_docker_machine_security_group_description = "Custom description for docker-machine"
}
