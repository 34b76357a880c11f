terraform {
  required_version = ">= 1.5.0"

  # A root module for HCP Terraform: uncomment and name your organization and workspace.
  # cloud {
  #   organization = "acme"
  #   workspaces {
  #     name = "k3s-production"
  #   }
  # }
}
