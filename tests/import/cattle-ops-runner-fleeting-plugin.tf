# The `module "runner"` block of examples/runner-fleeting-plugin/main.tf in cattle-ops/terraform-aws-gitlab-runner
# at tag 9.5.2, reproduced as a test fixture under its MIT licence (LICENSE-cattle-ops).

module "runner" {
  source = "../../"

  environment = var.environment

  vpc_id    = module.vpc.vpc_id
  subnet_id = element(module.vpc.private_subnets, 0)

  runner_instance = {
    name       = var.runner_name
    ssm_access = true
  }

  runner_gitlab = {
    url = var.gitlab_url

    preregistered_runner_token_ssm_parameter_name = var.preregistered_runner_token_ssm_parameter_name
  }

  runner_worker = {
    type     = "docker-autoscaler"
    max_jobs = 10
  }

  runner_worker_docker_autoscaler = {
    connector_config_user = "ubuntu" # this user id is used to connect to the instance via SSH
  }

  # FIXME: this AMI is outdated, but has Docker installed, which is needed. There are no other AMIs available with Docker pre-installed.
  runner_worker_docker_autoscaler_ami_owners = ["099720109477"] # Canonical
  runner_worker_docker_autoscaler_ami_filter = {
    name = ["ubuntu-server-22-lts-x86-*"]
  }

  runner_worker_docker_autoscaler_instance = {
    monitoring = true
  }

  runner_worker_docker_autoscaler_asg = {
    subnet_ids                               = module.vpc.private_subnets
    types                                    = ["t3a.micro", "t3a.small", "t3.micro", "t3.small"]
    enable_mixed_instances_policy            = true
    on_demand_base_capacity                  = 1
    on_demand_percentage_above_base_capacity = 0
  }

  runner_worker_docker_autoscaler_autoscaling_options = [
    {
      periods      = ["* * * * *"]
      timezone     = "Europe/Berlin"
      idle_count   = 0
      idle_time    = "0s"
      scale_factor = 2
    },
    {
      periods      = ["* 7-19 * * mon-fri"]
      timezone     = "Europe/Berlin"
      idle_count   = 3
      idle_time    = "30m"
      scale_factor = 2
    }
  ]

  runner_worker_docker_options = {
    volumes = ["/cache", "/var/run/docker.sock:/var/run/docker.sock"]
  }

  tags = {
    "tf-aws-gitlab-runner:example"           = "runner-default"
    "tf-aws-gitlab-runner:instancelifecycle" = "spot:yes"
  }
}
